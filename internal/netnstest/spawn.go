package netnstest

import (
	"os/exec"
	"runtime"
	"sync"
)

// Pdeathsig is tied to the thread that forked the child, not to the
// process: when that thread exits, the child gets SIGKILL. Go ends threads
// whose goroutine exits while locked, which Host.Do does on purpose; a
// program started earlier from such a thread would die at a random later
// moment. So every child is started from one thread that never exits.
var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

// startCmd is cmd.Start on the spawner thread.
func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the test binary
			for r := range spawnCh {
				r.err <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawnCh <- r
	return <-r.err
}
