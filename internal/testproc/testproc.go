// Package testproc holds what the test-server helpers (pgtest, s3test,
// ldaptest) share about the child processes they start: a free loopback
// port, and stopping a process group with a signal and a grace period.
// Test helpers only; it must not import any other internal package.
package testproc

import (
	"net"
	"os/exec"
	"syscall"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop sends sig to cmd and waits up to grace for done (closed when the
// process has been waited for), then kills its process group.
func Stop(cmd *exec.Cmd, done <-chan struct{}, sig syscall.Signal, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		Kill(cmd, done)
	}
}

// Kill kills cmd's process group (started with Setpgid) and waits for done.
func Kill(cmd *exec.Cmd, done <-chan struct{}) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}
