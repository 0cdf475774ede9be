package auth_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wharfhq/wharf/internal/auth"
	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/pgtest"
	"github.com/wharfhq/wharf/internal/store"
)

func openSQLite(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "wharf.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// pgServer starts one PostgreSQL server for a test and its subtests, or
// skips (fails under WHARF_E2E_REQUIRE=1) when it is not installed.
func pgServer(t *testing.T) func(t *testing.T) *store.DB {
	t.Helper()
	srv := pgtest.ForTest(t, pgtest.Options{})
	var n atomic.Int64
	return func(t *testing.T) *store.DB {
		dsn, err := srv.CreateDatabase(context.Background(), fmt.Sprintf("auth%d", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		db, err := store.OpenPostgres(context.Background(), dsn, store.PostgresOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func newClock(window time.Duration) *clock {
	// At the start of a window, so tests know where the boundaries fall.
	return &clock{t: time.UnixMilli(1_800_000_000_000).Truncate(window)}
}

// countingStore counts the user lookups an authenticator makes, to show a
// refused login never reaches password verification.
type countingStore struct {
	*store.DB
	lookups atomic.Int64
}

func (c *countingStore) User(ctx context.Context, name string) (core.User, error) {
	c.lookups.Add(1)
	return c.DB.User(ctx, name)
}

func newPerson(t *testing.T, db *store.DB, name, password string) core.User {
	t.Helper()
	// The lowest bcrypt cost keeps the many logins of these tests fast.
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.CreateUser(context.Background(), store.NewUser{Username: name, Email: name + "@example.com", PasswordHash: string(hash)})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newBox(t *testing.T) *auth.Box {
	t.Helper()
	box, err := auth.NewBox("ratelimit-test-secret-key")
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func from(addr string) context.Context {
	return auth.WithClientAddr(context.Background(), addr)
}

func isTooMany(err error) bool { return core.IsCode(err, core.CodeTooManyRequests) }

// TestRateLimit runs the login rate limiter on SQLite and on PostgreSQL.
func TestRateLimit(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testRateLimit(t, func(t *testing.T) *store.DB { return openSQLite(t) }) })
	t.Run("PostgreSQL", func(t *testing.T) { testRateLimit(t, pgServer(t)) })
}

func testRateLimit(t *testing.T, open func(t *testing.T) *store.DB) {
	const window = 5 * time.Minute
	setup := func(t *testing.T, rl auth.RateLimit) (*auth.Authenticator, *countingStore, *clock) {
		db := open(t)
		clk := newClock(window)
		cs := &countingStore{DB: db}
		lim := auth.NewLimiter(db, rl, clk.now, quietLog())
		return auth.NewAuthenticator(cs, newBox(t), auth.Policy{DirectLogin: true, AppTokens: true}, clk.now, auth.WithLimiter(lim)), cs, clk
	}
	defaults := auth.RateLimit{AccountFailures: 10, AddressFailures: 50, Window: window}

	t.Run("AccountLimit", func(t *testing.T) {
		t.Parallel()
		a, cs, _ := setup(t, defaults)
		newPerson(t, cs.DB, "alice", "alice-password")
		newPerson(t, cs.DB, "bob", "bob-password")
		for i := 0; i < 10; i++ {
			if _, err := a.Basic(from("10.0.0.1:5000"), "alice", "wrong"); !core.IsCode(err, core.CodeUnauthorized) {
				t.Fatalf("wrong password %d: %v", i+1, err)
			}
		}
		before := cs.lookups.Load()
		// The 11th attempt is refused, even with the right password, from
		// anywhere, and without looking at the password.
		if _, err := a.Basic(from("10.0.0.2:5000"), "alice", "alice-password"); !isTooMany(err) {
			t.Fatalf("11th attempt with the right password: %v, want too many requests", err)
		}
		if _, err := a.Basic(from("10.0.0.1:5000"), "ALICE", "wrong"); !isTooMany(err) {
			t.Fatalf("11th attempt, name in capitals: %v, want too many requests", err)
		}
		if n := cs.lookups.Load() - before; n != 0 {
			t.Fatalf("refused logins looked the user up %d times", n)
		}
		// Another account, from the same address, is not affected.
		if id, err := a.Basic(from("10.0.0.1:5000"), "bob", "bob-password"); err != nil || id.User.Username != "bob" {
			t.Fatalf("bob: %v, %v", id.User.Username, err)
		}
	})

	t.Run("ParallelBurst", func(t *testing.T) {
		t.Parallel()
		a, cs, _ := setup(t, defaults)
		newPerson(t, cs.DB, "alice", "alice-password")
		// 30 guesses at once get no more than the limit's worth of
		// password checks.
		var wg sync.WaitGroup
		var checked, refused atomic.Int64
		for i := 0; i < 30; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := a.Basic(from(fmt.Sprintf("10.9.0.%d", i)), "alice", "wrong")
				switch {
				case core.IsCode(err, core.CodeUnauthorized):
					checked.Add(1)
				case isTooMany(err):
					refused.Add(1)
				default:
					t.Errorf("guess: %v", err)
				}
			}(i)
		}
		wg.Wait()
		if checked.Load() != 10 || refused.Load() != 20 {
			t.Fatalf("burst of 30: %d checked, %d refused; want 10 and 20", checked.Load(), refused.Load())
		}
	})

	t.Run("SuccessResetsAccount", func(t *testing.T) {
		t.Parallel()
		a, cs, _ := setup(t, defaults)
		newPerson(t, cs.DB, "alice", "alice-password")
		for round := 0; round < 2; round++ {
			for i := 0; i < 9; i++ {
				if _, err := a.Basic(from("10.0.0.1"), "alice", "wrong"); !core.IsCode(err, core.CodeUnauthorized) {
					t.Fatalf("round %d, wrong password %d: %v", round, i+1, err)
				}
			}
			if _, err := a.Basic(from("10.0.0.1"), "alice", "alice-password"); err != nil {
				t.Fatalf("round %d, right password after 9 failures: %v", round, err)
			}
		}
	})

	t.Run("AddressLimit", func(t *testing.T) {
		t.Parallel()
		a, cs, _ := setup(t, auth.RateLimit{AccountFailures: 10, AddressFailures: 5, Window: window})
		newPerson(t, cs.DB, "alice", "alice-password")
		for i := 0; i < 5; i++ { // spraying five accounts, one guess each
			if _, err := a.Basic(from("192.0.2.7:1234"), fmt.Sprintf("user%d", i), "guess"); !core.IsCode(err, core.CodeUnauthorized) {
				t.Fatalf("guess %d: %v", i+1, err)
			}
		}
		if _, err := a.Basic(from("192.0.2.7:999"), "alice", "alice-password"); !isTooMany(err) {
			t.Fatalf("sixth login from the address: %v, want too many requests", err)
		}
		// Failed robot and token logins count against the address too.
		if _, err := a.Basic(from("192.0.2.7"), "$app", "x"); !isTooMany(err) {
			t.Fatalf("app token from the blocked address: %v", err)
		}
		if _, err := a.Basic(from("192.0.2.8"), "alice", "alice-password"); err != nil {
			t.Fatalf("alice from another address: %v", err)
		}
		// IPv6 addresses count per /64.
		for i := 0; i < 5; i++ {
			_, _ = a.Basic(from(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1)), "nobody", "guess")
		}
		if _, err := a.Basic(from("[2001:db8:1:2:ffff::1]:443"), "alice", "alice-password"); !isTooMany(err) {
			t.Fatalf("same /64: %v, want too many requests", err)
		}
		if _, err := a.Basic(from("[2001:db8:1:3::1]:443"), "alice", "alice-password"); err != nil {
			t.Fatalf("another /64: %v", err)
		}
	})

	t.Run("RobotsAreNotLockedOut", func(t *testing.T) {
		t.Parallel()
		a, cs, _ := setup(t, auth.RateLimit{AccountFailures: 3, AddressFailures: 50, Window: window})
		ctx := context.Background()
		owner := newPerson(t, cs.DB, "owner", "owner-password")
		if _, err := cs.CreateOrganization(ctx, "acme", "acme@example.com", owner.ID); err != nil {
			t.Fatal(err)
		}
		box := newBox(t)
		enc, err := box.Seal("robot-token-0123456789")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CreateRobot(ctx, "acme", "ci", enc, "", ""); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if _, err := a.Basic(from(fmt.Sprintf("198.51.100.%d", i)), "acme+ci", "wrong"); !core.IsCode(err, core.CodeUnauthorized) {
				t.Fatalf("wrong robot token %d: %v", i+1, err)
			}
		}
		if id, err := a.Basic(from("198.51.100.200"), "acme+ci", "robot-token-0123456789"); err != nil || id.Method != auth.MethodRobot {
			t.Fatalf("robot after failures from elsewhere: %v %v", id.Method, err)
		}
	})

	t.Run("WindowExpiry", func(t *testing.T) {
		t.Parallel()
		a, cs, clk := setup(t, defaults)
		newPerson(t, cs.DB, "alice", "alice-password")
		for i := 0; i < 10; i++ {
			_, _ = a.Basic(from("10.0.0.1"), "alice", "wrong")
		}
		clk.add(window - time.Second)
		if _, err := a.Basic(from("10.0.0.1"), "alice", "alice-password"); !isTooMany(err) {
			t.Fatalf("within the window: %v, want too many requests", err)
		}
		// Into the next window, the old failures weigh less and less: at
		// a fifth into it, 10 * 4/5 = 8 < 10 lets one attempt through.
		clk.add(time.Second + window/5)
		if _, err := a.Basic(from("10.0.0.1"), "alice", "wrong"); !core.IsCode(err, core.CodeUnauthorized) {
			t.Fatalf("a fifth into the next window: %v, want a password check", err)
		}
		// 8 + 1 = 9 < 10: one more; then 10, refused.
		if _, err := a.Basic(from("10.0.0.1"), "alice", "wrong"); !core.IsCode(err, core.CodeUnauthorized) {
			t.Fatalf("second attempt a fifth into the next window: %v", err)
		}
		if _, err := a.Basic(from("10.0.0.1"), "alice", "alice-password"); !isTooMany(err) {
			t.Fatalf("third attempt a fifth into the next window: %v, want too many requests", err)
		}
		// Two windows later everything has expired.
		clk.add(2 * window)
		if _, err := a.Basic(from("10.0.0.1"), "alice", "alice-password"); err != nil {
			t.Fatalf("after two windows: %v", err)
		}
	})

	t.Run("Disabled", func(t *testing.T) {
		t.Parallel()
		if auth.NewLimiter(nil, auth.RateLimit{Window: window}, time.Now, quietLog()) != nil {
			t.Fatal("a limiter without limits was built")
		}
		a, cs, _ := setup(t, auth.RateLimit{AccountFailures: 0, AddressFailures: 0, Window: window})
		newPerson(t, cs.DB, "alice", "alice-password")
		for i := 0; i < 15; i++ {
			_, _ = a.Basic(from("10.0.0.1"), "alice", "wrong")
		}
		if _, err := a.Basic(from("10.0.0.1"), "alice", "alice-password"); err != nil {
			t.Fatalf("no limits: %v", err)
		}
	})
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:443":             "address:192.0.2.1",
		"192.0.2.1":                 "address:192.0.2.1",
		"[::ffff:192.0.2.1]:80":     "address:192.0.2.1",
		"[2001:db8::1]:443":         "address:2001:db8::/64",
		"2001:db8:0:0:ffff::1":      "address:2001:db8::/64",
		"[fe80::1%eth0]:22":         "address:fe80::/64",
		"not-an-address":            "address:not-an-address",
		"2001:db8:aaaa:bbbb:cccc::": "address:2001:db8:aaaa:bbbb::/64",
	} {
		if got := auth.AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
