//go:build linux

package netnstest

import (
	"path/filepath"
	"time"
)

// Restart stops nmbd (SIGTERM, as an admin's restart does) and starts it
// again with the same configuration and state, returning once it has bound
// its sockets.
func (n *Nmbd) Restart() {
	t := n.Host.lab.t
	t.Helper()
	n.Stop(10 * time.Second)
	n.Proc = n.Host.Start("nmbd", "-F", "--no-process-group", "--debug-stdout", "-d", "3", "-s", n.Conf, "-l", filepath.Join(n.Dir, "log"))
	if _, err := n.WaitOutput(`(?i)making subnet|added interface`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}
