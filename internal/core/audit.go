package core

import (
	"context"
	"net"
	"time"
)

// Actor is who performs a request, as the audit log records it: the user or
// robot (an app token or OAuth token stands for the user owning it; Auth
// says which credential was used) and the client's address. The HTTP edges
// put it into the request context (WithActor); the store reads it when it
// writes an audit log entry in the transaction of a change.
type Actor struct {
	// UserID is the user or robot; 0 when only the name is known (a
	// registry token names its subject) or for anonymous callers.
	UserID int64
	// Username is the user's or robot's name; empty for anonymous callers.
	Username string
	// Kind is UserKindUser or UserKindRobot ("" for anonymous callers).
	Kind string
	// Auth is how the caller authenticated: password, robot, app_token,
	// oauth, session, federated or registry_token.
	Auth string
	// IP is the client's address (without port).
	IP string
}

type actorKey struct{}

// WithActor returns ctx carrying the actor of the request.
func WithActor(ctx context.Context, a Actor) context.Context {
	a.IP = HostOnly(a.IP)
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor WithActor recorded (ok false: none, as in
// background jobs).
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// HostOnly strips a port from "host:port" ("[::1]:5000" → "::1").
func HostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// AuditEntry is one audit log entry (Quay's LogEntry).
type AuditEntry struct {
	ID   int64
	Kind string
	// Performer is the user or robot that acted (zero ID and empty name:
	// anonymous or the system, such as an expiry or pruning job).
	PerformerID   int64
	PerformerName string
	PerformerKind string // UserKindUser, UserKindRobot or ""
	PerformerAuth string // see Actor.Auth
	NamespaceID   int64
	Namespace     string
	NamespaceKind string // NamespaceUser or NamespaceOrg
	RepositoryID  int64
	Repository    string // the repository's name inside the namespace
	IP            string
	Metadata      map[string]any
	Time          time.Time
}

// Pull logging modes (ACTION_LOG_PULLS).
const (
	PullLogOff     = "off"
	PullLogSampled = "sampled"
	PullLogAll     = "all"
)

// Audit log kinds. Where Quay has a kind for an action the name is Quay's
// (its LogEntryKind table); names marked "Wharf" exist only here.
const (
	LogLoginSuccess     = "login_success"
	LogLoginFailure     = "login_failure"
	LogLogoutSuccess    = "logout_success"
	LogFederatedRobotTx = "federated_robot_token_exchange"

	LogPushRepo             = "push_repo"
	LogPullRepo             = "pull_repo"
	LogCreateRepo           = "create_repo"
	LogDeleteRepo           = "delete_repo"
	LogChangeRepoVisibility = "change_repo_visibility"
	LogSetRepoDescription   = "set_repo_description"
	LogChangeRepoState      = "change_repo_state"

	LogCreateTag             = "create_tag"
	LogMoveTag               = "move_tag"
	LogDeleteTag             = "delete_tag"
	LogRevertTag             = "revert_tag"
	LogChangeTagExpiration   = "change_tag_expiration"
	LogChangeTagImmutability = "change_tag_immutability"
	LogTagExpiration         = "tag_expiration" // Wharf: an expired tag ended by the expiry job
	LogPermanentlyDeleteTag  = "permanently_delete_tag"
	LogAutopruneTagDelete    = "autoprune_tag_delete"
	LogDeleteManifest        = "delete_manifest" // Wharf: a manifest deleted by digest

	LogAddRepoPermission    = "add_repo_permission"
	LogChangeRepoPermission = "change_repo_permission"
	LogDeleteRepoPermission = "delete_repo_permission"

	LogOrgCreate               = "org_create"
	LogOrgDelete               = "org_delete"
	LogOrgChangeEmail          = "org_change_email"
	LogOrgChangeTagExpiration  = "org_change_tag_expiration"
	LogOrgCreateTeam           = "org_create_team"
	LogOrgDeleteTeam           = "org_delete_team"
	LogOrgSetTeamRole          = "org_set_team_role"
	LogOrgSetTeamDescription   = "org_set_team_description"
	LogOrgAddTeamMember        = "org_add_team_member"
	LogOrgRemoveTeamMember     = "org_remove_team_member"
	LogCreatePrototypePerm     = "create_prototype_permission"
	LogModifyPrototypePerm     = "modify_prototype_permission"
	LogDeletePrototypePerm     = "delete_prototype_permission"
	LogCreateRobot             = "create_robot"
	LogDeleteRobot             = "delete_robot"
	LogRegenerateRobotToken    = "regenerate_robot_token"
	LogCreateRobotFederation   = "create_robot_federation"
	LogDeleteRobotFederation   = "delete_robot_federation"
	LogCreateApplication       = "create_application"
	LogUpdateApplication       = "update_application"
	LogDeleteApplication       = "delete_application"
	LogCreateAppSpecificToken  = "create_app_specific_token"
	LogRevokeAppSpecificToken  = "revoke_app_specific_token"
	LogUserCreate              = "user_create"
	LogUserDelete              = "user_delete"
	LogUserDisable             = "user_disable"
	LogUserEnable              = "user_enable"
	LogUserChangeEmail         = "user_change_email"
	LogUserChangePassword      = "user_change_password"
	LogUserChangeTagExpiration = "user_change_tag_expiration"
	LogUserChangeSuperuser     = "user_change_superuser" // Wharf: the superuser flag set or cleared

	LogCreateImmutabilityPolicy = "create_immutability_policy"
	LogUpdateImmutabilityPolicy = "update_immutability_policy"
	LogDeleteImmutabilityPolicy = "delete_immutability_policy"
	LogCreateNSAutoprunePolicy  = "create_namespace_autoprune_policy"
	LogUpdateNSAutoprunePolicy  = "update_namespace_autoprune_policy"
	LogDeleteNSAutoprunePolicy  = "delete_namespace_autoprune_policy"
	LogCreateRepoAutoprune      = "create_repository_autoprune_policy"
	LogUpdateRepoAutoprune      = "update_repository_autoprune_policy"
	LogDeleteRepoAutoprune      = "delete_repository_autoprune_policy"
	LogOrgCreateQuota           = "org_create_quota"
	LogOrgChangeQuota           = "org_change_quota"
	LogOrgDeleteQuota           = "org_delete_quota"
	LogOrgCreateQuotaLimit      = "org_create_quota_limit"
	LogOrgChangeQuotaLimit      = "org_change_quota_limit"
	LogOrgDeleteQuotaLimit      = "org_delete_quota_limit"

	LogAddRepoNotification    = "add_repo_notification"
	LogDeleteRepoNotification = "delete_repo_notification"
	LogResetRepoNotification  = "reset_repo_notification"

	LogCreateProxyCacheConfig = "create_proxy_cache_config"
	LogDeleteProxyCacheConfig = "delete_proxy_cache_config"

	LogRepoMirrorEnabled          = "repo_mirror_enabled"
	LogRepoMirrorDisabled         = "repo_mirror_disabled"
	LogRepoMirrorConfigChanged    = "repo_mirror_config_changed"
	LogRepoMirrorSyncStarted      = "repo_mirror_sync_started"
	LogRepoMirrorSyncFailed       = "repo_mirror_sync_failed"
	LogRepoMirrorSyncSuccess      = "repo_mirror_sync_success"
	LogRepoMirrorSyncNowRequested = "repo_mirror_sync_now_requested"
	LogRepoMirrorSyncTagSuccess   = "repo_mirror_sync_tag_success"
	LogRepoMirrorSyncTagFailed    = "repo_mirror_sync_tag_failed"
	LogRepoMirrorSyncTestSuccess  = "repo_mirror_sync_test_success"
	LogRepoMirrorSyncTestFailed   = "repo_mirror_sync_test_failed"
	LogRepoMirrorSyncTestStarted  = "repo_mirror_sync_test_started"

	LogManifestLabelAdd    = "manifest_label_add"
	LogManifestLabelDelete = "manifest_label_delete"

	LogScanManifest        = "scan_manifest"         // Wharf: a manifest's vulnerability scan finished
	LogChangeRegistryState = "change_registry_state" // Wharf: superuser switched the registry read-only or back
	LogExportLogsFailure   = "export_logs_failure"
	LogExportLogsSuccess   = "export_logs_success" // Wharf: an export job delivered its logs
)

// AuditKinds lists every kind the audit log writes, in a stable order; the
// kind filter of the log API accepts only these.
func AuditKinds() []string {
	return []string{
		LogLoginSuccess, LogLoginFailure, LogLogoutSuccess, LogFederatedRobotTx,
		LogPushRepo, LogPullRepo, LogCreateRepo, LogDeleteRepo, LogChangeRepoVisibility, LogSetRepoDescription, LogChangeRepoState,
		LogCreateTag, LogMoveTag, LogDeleteTag, LogRevertTag, LogChangeTagExpiration, LogChangeTagImmutability, LogTagExpiration,
		LogPermanentlyDeleteTag, LogAutopruneTagDelete, LogDeleteManifest,
		LogAddRepoPermission, LogChangeRepoPermission, LogDeleteRepoPermission,
		LogOrgCreate, LogOrgDelete, LogOrgChangeEmail, LogOrgChangeTagExpiration,
		LogOrgCreateTeam, LogOrgDeleteTeam, LogOrgSetTeamRole, LogOrgSetTeamDescription, LogOrgAddTeamMember, LogOrgRemoveTeamMember,
		LogCreatePrototypePerm, LogModifyPrototypePerm, LogDeletePrototypePerm,
		LogCreateRobot, LogDeleteRobot, LogRegenerateRobotToken, LogCreateRobotFederation, LogDeleteRobotFederation,
		LogCreateApplication, LogUpdateApplication, LogDeleteApplication,
		LogCreateAppSpecificToken, LogRevokeAppSpecificToken,
		LogUserCreate, LogUserDelete, LogUserDisable, LogUserEnable, LogUserChangeEmail, LogUserChangePassword, LogUserChangeTagExpiration,
		LogUserChangeSuperuser,
		LogCreateImmutabilityPolicy, LogUpdateImmutabilityPolicy, LogDeleteImmutabilityPolicy,
		LogCreateNSAutoprunePolicy, LogUpdateNSAutoprunePolicy, LogDeleteNSAutoprunePolicy,
		LogCreateRepoAutoprune, LogUpdateRepoAutoprune, LogDeleteRepoAutoprune,
		LogOrgCreateQuota, LogOrgChangeQuota, LogOrgDeleteQuota, LogOrgCreateQuotaLimit, LogOrgChangeQuotaLimit, LogOrgDeleteQuotaLimit,
		LogAddRepoNotification, LogDeleteRepoNotification, LogResetRepoNotification,
		LogCreateProxyCacheConfig, LogDeleteProxyCacheConfig,
		LogRepoMirrorEnabled, LogRepoMirrorDisabled, LogRepoMirrorConfigChanged, LogRepoMirrorSyncStarted, LogRepoMirrorSyncFailed,
		LogRepoMirrorSyncSuccess, LogRepoMirrorSyncNowRequested, LogRepoMirrorSyncTagSuccess, LogRepoMirrorSyncTagFailed,
		LogRepoMirrorSyncTestSuccess, LogRepoMirrorSyncTestFailed, LogRepoMirrorSyncTestStarted,
		LogManifestLabelAdd, LogManifestLabelDelete,
		LogScanManifest, LogChangeRegistryState, LogExportLogsFailure, LogExportLogsSuccess,
	}
}

// IsAuditKind reports whether k is one of AuditKinds.
func IsAuditKind(k string) bool {
	for _, x := range AuditKinds() {
		if x == k {
			return true
		}
	}
	return false
}
