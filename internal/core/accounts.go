package core

import "time"

// User kinds.
const (
	UserKindUser  = "user"
	UserKindRobot = "robot"
)

// Namespace kinds.
const (
	NamespaceUser = "user"
	NamespaceOrg  = "org"
)

// Repository roles, weakest first.
const (
	RoleNone  = ""
	RoleRead  = "read"
	RoleWrite = "write"
	RoleAdmin = "admin"
)

// Team roles.
const (
	TeamMember  = "member"
	TeamCreator = "creator"
	TeamAdmin   = "admin"
)

// OwnersTeam is the admin team every organization starts with.
const OwnersTeam = "owners"

// RoleRank orders repository roles: none 0, read 1, write 2, admin 3.
func RoleRank(role string) int {
	switch role {
	case RoleRead:
		return 1
	case RoleWrite:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// MaxRole returns the stronger of two repository roles.
func MaxRole(a, b string) string {
	if RoleRank(b) > RoleRank(a) {
		return b
	}
	return a
}

// ValidRepoRole reports whether r is read, write or admin.
func ValidRepoRole(r string) bool { return RoleRank(r) > 0 }

// ValidTeamRole reports whether r is member, creator or admin.
func ValidTeamRole(r string) bool { return r == TeamMember || r == TeamCreator || r == TeamAdmin }

// User is a person or a robot.
type User struct {
	ID           int64
	Username     string
	Email        string
	PasswordHash string
	Kind         string
	// RobotNamespace is the namespace a robot belongs to.
	RobotNamespace   string
	RobotNamespaceID int64
	// RobotTokenEnc is the robot's encrypted token.
	RobotTokenEnc string
	Description   string
	Metadata      string // JSON, robots' unstructured_metadata
	Superuser     bool
	Enabled       bool
	CreatedAt     time.Time
	LastAccessed  time.Time
}

// IsRobot reports whether the user is a robot account.
func (u User) IsRobot() bool { return u.Kind == UserKindRobot }

// Namespace is a user's namespace or an organization.
type Namespace struct {
	ID        int64
	Name      string
	Kind      string
	Email     string
	UserID    int64 // owner of a user namespace
	CreatedAt time.Time
	// TagExpirationS is the time-machine window in seconds (Quay's
	// tag_expiration_s): how long ended tags stay restorable. -1 means the
	// configured default.
	TagExpirationS int64
}

// IsOrg reports whether the namespace is an organization.
func (n Namespace) IsOrg() bool { return n.Kind == NamespaceOrg }

// Team is a team of an organization.
type Team struct {
	ID          int64
	NamespaceID int64
	Name        string
	Role        string
	Description string
	MemberCount int
	CreatedAt   time.Time
}

// Permission is a role on a repository held by a user, robot or team.
type Permission struct {
	RepositoryID int64
	Repository   string // full name
	IsPublic     bool
	Role         string
	UserID       int64
	Username     string
	IsRobot      bool
	TeamID       int64
	TeamName     string
}

// Prototype is an organization's default permission.
type Prototype struct {
	ID              int64
	UUID            string
	NamespaceID     int64
	ActivatingUser  string
	DelegateUser    string
	DelegateIsRobot bool
	DelegateTeam    string
	Role            string
}

// AppToken is a user's application token (the secret is never stored).
type AppToken struct {
	ID           int64
	UUID         string
	UserID       int64
	Title        string
	Prefix       string
	SecretHash   string
	CreatedAt    time.Time
	ExpiresAt    time.Time // zero: never
	LastAccessed time.Time
}

// OAuthApp is an organization's OAuth application.
type OAuthApp struct {
	ID              int64
	NamespaceID     int64
	Namespace       string
	ClientID        string
	ClientSecretEnc string
	Name            string
	RedirectURI     string
	ApplicationURI  string
	Description     string
	CreatedAt       time.Time
}

// OAuthToken is an access token with scopes (the secret is never stored).
type OAuthToken struct {
	ID            int64
	UUID          string
	ApplicationID int64
	UserID        int64
	Prefix        string
	SecretHash    string
	Scope         string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// ServiceKey is a registry-token signing key.
type ServiceKey struct {
	KID           string
	Alg           string
	PrivateKeyEnc string
	PublicJWK     string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}
