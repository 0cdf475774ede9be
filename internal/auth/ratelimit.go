package auth

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfhq/wharf/internal/core"
	"github.com/wharfhq/wharf/internal/store"
)

// RateLimit bounds failed logins. Failures are counted per account and per
// source address; once either count reaches its limit within Window, further
// attempts are refused with core.CodeTooManyRequests before any password is
// checked. A limit of 0 turns that count off.
type RateLimit struct {
	// AccountFailures is how many failed logins an account may have per
	// Window (LOGIN_RATE_LIMIT_ACCOUNT).
	AccountFailures int
	// AddressFailures is how many failed logins one source address may
	// cause per Window (LOGIN_RATE_LIMIT_ADDRESS).
	AddressFailures int
	// Window is the counting window (LOGIN_RATE_LIMIT_WINDOW).
	Window time.Duration
}

// AttemptStore keeps the failure counts; *store.DB implements it, so the
// counts hold across replicas.
type AttemptStore interface {
	LoginAttempts(ctx context.Context, keys []string) (map[string]store.LoginAttempts, error)
	RecordLoginFailure(ctx context.Context, keys []string, windowStart time.Time, window time.Duration) error
	ResetLoginAttempts(ctx context.Context, key string) error
	PruneLoginAttempts(ctx context.Context, before time.Time) error
}

// Limiter counts failed logins in the database and refuses logins of
// accounts and addresses that failed too often. Counts live in fixed windows;
// the previous window's count, weighted by how much of it still overlaps the
// sliding window that ends now, is added to the current one, so a burst that
// straddles a window boundary is still seen.
type Limiter struct {
	store     AttemptStore
	cfg       RateLimit
	now       func() time.Time
	log       *slog.Logger
	lastPrune atomic.Int64 // Unix ms of the last pruning by this process

	mu       sync.Mutex
	inflight map[string]chan struct{} // accounts with a login being verified
}

// NewLimiter returns a limiter, or nil (no limiting) when both limits are 0
// or the window is not positive.
func NewLimiter(st AttemptStore, cfg RateLimit, now func() time.Time, log *slog.Logger) *Limiter {
	if (cfg.AccountFailures <= 0 && cfg.AddressFailures <= 0) || cfg.Window <= 0 {
		return nil
	}
	if cfg.Window < time.Millisecond {
		cfg.Window = time.Millisecond
	}
	return &Limiter{store: st, cfg: cfg, now: now, log: log, inflight: map[string]chan struct{}{}}
}

// serialize waits until no other login of the account is being verified in
// this process, and returns the function that lets the next one go. Without
// it, a burst of parallel guesses would all pass Check before the first
// failure is counted; with it, a burst gains at most one guess per replica.
func (l *Limiter) serialize(ctx context.Context, account string) (func(), error) {
	if account == "" || l.cfg.AccountFailures <= 0 {
		return func() {}, nil
	}
	key := AccountKey(account)
	for {
		l.mu.Lock()
		busy, ok := l.inflight[key]
		if !ok {
			done := make(chan struct{})
			l.inflight[key] = done
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.inflight, key)
				l.mu.Unlock()
				close(done)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// AccountKey and AddressKey name the counters of an account and a source
// address.
func AccountKey(username string) string { return "account:" + strings.ToLower(username) }

// AddressKey is the counter of a source address ("ip" or "ip:port"). IPv6
// addresses count per /64, the block one host or site usually holds.
func AddressKey(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return "address:" + addr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "address:" + p.String()
	}
	return "address:" + ip.String()
}

type clientAddrKey struct{}

// WithClientAddr records the caller's network address ("ip" or "ip:port")
// for the login rate limiter. The HTTP edge sets it once per request.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr is the address WithClientAddr recorded, or "".
func ClientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}

// keys lists the counters of a login: the account's (empty account: none)
// and the address's (empty address: none), with their limits.
func (l *Limiter) keys(account, addr string) (keys []string, limits []int) {
	if account != "" && l.cfg.AccountFailures > 0 {
		keys, limits = append(keys, AccountKey(account)), append(limits, l.cfg.AccountFailures)
	}
	if addr != "" && l.cfg.AddressFailures > 0 {
		keys, limits = append(keys, AddressKey(addr)), append(limits, l.cfg.AddressFailures)
	}
	return keys, limits
}

// windowStart is the start of the fixed window holding now.
func (l *Limiter) windowStart(now time.Time) time.Time {
	w := l.cfg.Window.Milliseconds()
	ms := now.UnixMilli()
	return time.UnixMilli(ms - ms%w)
}

// blocked reports whether the failures in the sliding window ending at now
// reach limit. The previous window counts in proportion to how much of it
// the sliding window still covers; the arithmetic is in integer
// milliseconds, so boundaries are exact.
func (l *Limiter) blocked(a store.LoginAttempts, now time.Time, limit int) bool {
	start := l.windowStart(now).UnixMilli()
	w := l.cfg.Window.Milliseconds()
	left := w - (now.UnixMilli() - start) // of the previous window, still inside the sliding one
	var weighted int64                    // failures × w
	switch ws := a.WindowStart.UnixMilli(); {
	case ws > start: // written by a replica whose clock is ahead
		weighted = int64(a.Failures+a.PrevFailures) * w
	case ws == start:
		weighted = int64(a.Failures)*w + int64(a.PrevFailures)*left
	case ws == start-w:
		weighted = int64(a.Failures) * left
	}
	return weighted >= int64(limit)*w
}

// Check refuses (core.CodeTooManyRequests) a login of account from addr when
// either has failed too often. Either may be empty. It also reports whether
// the account has failures on record (that a success should reset).
func (l *Limiter) Check(ctx context.Context, account, addr string) (accountFailures bool, err error) {
	keys, limits := l.keys(account, addr)
	if len(keys) == 0 {
		return false, nil
	}
	counts, err := l.store.LoginAttempts(ctx, keys)
	if err != nil {
		return false, err
	}
	now := l.now()
	for i, k := range keys {
		a, ok := counts[k]
		if ok && l.blocked(a, now, limits[i]) {
			l.log.WarnContext(ctx, "login refused: too many failed attempts", "key", k, "limit", limits[i],
				"window", l.cfg.Window.String())
			return false, core.Errorf(core.CodeTooManyRequests, "too many failed login attempts; try again later")
		}
	}
	_, accountFailures = counts[AccountKey(account)]
	return account != "" && accountFailures, nil
}

// Failed counts a failed login. It runs even when the caller has gone away,
// so that hanging up early does not hide a guess from the count.
func (l *Limiter) Failed(ctx context.Context, account, addr string) {
	keys, _ := l.keys(account, addr)
	if len(keys) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	now := l.now()
	start := l.windowStart(now)
	if err := l.store.RecordLoginFailure(ctx, keys, start, l.cfg.Window); err != nil {
		l.log.ErrorContext(ctx, "recording a failed login", "error", err)
	}
	// Now and then, drop counts older than the previous window.
	last := l.lastPrune.Load()
	if now.UnixMilli()-last >= l.cfg.Window.Milliseconds() && l.lastPrune.CompareAndSwap(last, now.UnixMilli()) {
		if err := l.store.PruneLoginAttempts(ctx, start.Add(-l.cfg.Window)); err != nil {
			l.log.ErrorContext(ctx, "pruning failed logins", "error", err)
		}
	}
}

// Succeeded forgets the failures of an account after a successful login.
// The address's count stays: one good password does not vouch for the other
// accounts tried from there.
func (l *Limiter) Succeeded(ctx context.Context, account string) {
	if account == "" || l.cfg.AccountFailures <= 0 {
		return
	}
	if err := l.store.ResetLoginAttempts(context.WithoutCancel(ctx), AccountKey(account)); err != nil {
		l.log.ErrorContext(ctx, "resetting failed logins", "error", err)
	}
}

// limited runs verify under the rate limiter: refused before verify when
// the account or the caller's address failed too often, failures counted
// after. Only people's accounts are counted per account: robot and app
// tokens cannot be guessed, and a per-account lock would let anyone lock a
// robot out; their failures still count against the address.
func (a *Authenticator) limited(ctx context.Context, username string, verify func() (Identity, error)) (Identity, error) {
	if a.limiter == nil {
		return verify()
	}
	account := username
	if strings.HasPrefix(username, "$") || strings.Contains(username, "+") {
		account = ""
	}
	addr := ClientAddr(ctx)
	release, err := a.limiter.serialize(ctx, account)
	if err != nil {
		return Identity{}, err
	}
	defer release()
	failedBefore, err := a.limiter.Check(ctx, account, addr)
	if err != nil {
		return Identity{}, err
	}
	id, err := verify()
	switch {
	case err == nil && failedBefore:
		a.limiter.Succeeded(ctx, account)
	case core.IsCode(err, core.CodeUnauthorized):
		a.limiter.Failed(ctx, account, addr)
	}
	return id, err
}
