//go:build linux

package netnstest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Nmbd is a Samba nmbd running in a lab host with a configuration and state
// of its own (reference/wire-protocol.md §10): nothing is shared with a
// system Samba or with another nmbd of the same run.
type Nmbd struct {
	*Proc
	Host      *Host
	Name      string // netbios name
	Workgroup string
	Dir       string // its private directory (smb.conf, state, logs)
	Conf      string // path of its smb.conf
}

// NmbdConfig chooses nmbd's identity. Extra lines go into [global].
type NmbdConfig struct {
	Name      string
	Workgroup string
	Extra     []string
}

// StartNmbd writes an smb.conf for h and starts nmbd in the foreground.
// It returns once nmbd has bound its sockets; its names are registered a
// few seconds later (WaitNames).
func StartNmbd(h *Host, cfg NmbdConfig) *Nmbd {
	t := h.lab.t
	t.Helper()
	Tool(t, "nmbd")
	dir, err := TempDir("nmbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"lock", "state", "cache", "pid", "private", "ncalrpc", "log", "nmbdsock"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lines := []string{
		"[global]",
		"workgroup = " + cfg.Workgroup,
		"netbios name = " + cfg.Name,
		"interfaces = " + h.Iface,
		"bind interfaces only = yes",
		// No browser elections: they add traffic and timers the tests do
		// not need (the recipe's timeline, §10.3).
		"local master = no",
		"domain master = no",
		"wins support = no",
		"disable netbios = no",
		"lock directory = " + filepath.Join(dir, "lock"),
		"state directory = " + filepath.Join(dir, "state"),
		"cache directory = " + filepath.Join(dir, "cache"),
		"pid directory = " + filepath.Join(dir, "pid"),
		"private dir = " + filepath.Join(dir, "private"),
		"ncalrpc dir = " + filepath.Join(dir, "ncalrpc"),
		"log file = " + filepath.Join(dir, "log", "log.%m"),
		// Gotcha 5: each nmbd needs its own packet-server socket dir.
		"nmbd:socket dir = " + filepath.Join(dir, "nmbdsock"),
	}
	lines = append(lines, cfg.Extra...)
	conf := filepath.Join(dir, "smb.conf")
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := h.Start("nmbd", "-F", "--no-process-group", "--debug-stdout", "-d", "3", "-s", conf, "-l", filepath.Join(dir, "log"))
	n := &Nmbd{Proc: p, Host: h, Name: strings.ToUpper(cfg.Name), Workgroup: strings.ToUpper(cfg.Workgroup), Dir: dir, Conf: conf}
	// nmbd logs the subnet once its sockets exist.
	if _, err := p.WaitOutput(`(?i)making subnet|added interface`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return n
}

// WaitNames waits until nmbd answers a broadcast name query for its own
// name<00>. nmbd answers unicast queries at once but broadcast ones only
// when its registration on the subnet is over (a few seconds): then it
// also defends the name.
func (n *Nmbd) WaitNames(from *Host, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := from.Run(10*time.Second, "nmblookup", "-B", n.Host.Broadcast.String(), n.Name)
		if err == nil && strings.Contains(out, n.Host.Addr.String()+" "+n.Name+"<00>") {
			return nil
		}
		if ok, perr := n.Exited(); ok {
			return fmt.Errorf("nmbd exited (%v):\n%s", perr, Tail(n.Output(), 2048))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nmbd on %s did not answer for %s<00> within %v: %s", n.Host, n.Name, timeout, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
