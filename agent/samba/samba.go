// Package samba runs the agent's network beside Samba's nmbd, which owns
// UDP 137 and 138 on hosts that share files with Windows (reference:
// samba-coexistence.md).
//
// Beside nmbd the agent
//   - receives datagrams through nmbd's "unexpected packet" socket (package
//     wire/nmbdsock), which hands out every datagram nmbd does not consume;
//   - sends from 0.0.0.0:138 with SO_REUSEADDR and a drop-all filter, with
//     honest header source fields, so replies go to nmbd and come back
//     through its socket;
//   - sends name service requests (queries, registrations) from an
//     ephemeral port, whose answers nmbd cannot take, and answers broadcast
//     queries for its own names from 0.0.0.0:137;
//   - never binds an interface address, which would take nmbd's unicast.
//
// Open chooses the mode (Owner or Beside; Auto decides from nmbd's socket)
// and, in Auto, follows nmbd as it starts, stops and restarts.
package samba

import (
	"bufio"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailslot/mailslot/agent/transport"
)

// Mode is how the agent gets on the network.
type Mode string

// Modes.
const (
	Auto   Mode = "auto"         // Beside when nmbd's socket answers, else Owner; follows nmbd
	Owner  Mode = "owner"        // the agent owns UDP 137/138
	Beside Mode = "beside-samba" // nmbd owns them; the agent works through it
)

// ParseMode accepts the three mode names.
func ParseMode(s string) (Mode, bool) {
	switch m := Mode(s); m {
	case Auto, Owner, Beside:
		return m, true
	case "":
		return Auto, true
	}
	return "", false
}

// Where Samba puts things on Debian (NMBDSOCKETDIR and the config file).
const (
	DefaultConf      = "/etc/samba/smb.conf"
	DefaultSocketDir = "/run/samba/nmbd"
	socketName       = "unexpected"
)

// SocketPath returns nmbd's unexpected-packet socket as configured by the
// smb.conf at conf ("nmbd:socket dir" in [global]), else the default. An
// unreadable or absent file means the default. Include files are not
// followed.
func SocketPath(conf string) string {
	if dir := confValue(conf, "nmbd:socket dir"); dir != "" {
		return filepath.Join(dir, socketName)
	}
	return filepath.Join(DefaultSocketDir, socketName)
}

// confValue returns the [global] value of key in smb.conf file path.
// Samba's syntax: case-insensitive keys whose spaces do not count, '#' and
// ';' comments, '\' continues a line, [global] or parameters before any
// section.
func confValue(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	norm := func(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), "")) }
	want, global, val := norm(key), true, ""
	sc := bufio.NewScanner(f)
	var line string
	for sc.Scan() {
		line += sc.Text()
		if strings.HasSuffix(line, `\`) {
			line = strings.TrimSuffix(line, `\`)
			continue
		}
		l := strings.TrimSpace(line)
		line = ""
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
		case l[0] == '[':
			global = norm(strings.Trim(l, "[]")) == "global"
		case global:
			if k, v, ok := strings.Cut(l, "="); ok && norm(k) == want {
				val = strings.TrimSpace(v)
			}
		}
	}
	return val
}

// Config configures Open.
type Config struct {
	Mode Mode // default Auto
	// Socket is nmbd's unexpected-packet socket; default SocketPath of
	// DefaultConf.
	Socket string
	// UDP configures the sockets (interfaces, logger).
	UDP    transport.UDPConfig
	Logger *slog.Logger
	// Poll is how often Auto looks for nmbd; default 1 s.
	Poll time.Duration
	// Grace is how long nmbd may be gone before Auto takes the ports back
	// (a restart is quicker); default 5 s.
	Grace time.Duration
}

// Stats counts what the agent saw beside nmbd. They survive mode changes.
type Stats struct {
	Frames     atomic.Uint64 // frames read from nmbd's socket
	Cut        atomic.Uint64 // datagrams nmbd cut at 576 bytes: dropped
	Duplicates atomic.Uint64 // the second copy of a subnet broadcast
	Malformed  atomic.Uint64 // frames that are not a datagram
	Overflow   atomic.Uint64 // packets lost because the agent fell behind
	Connects   atomic.Uint64 // subscriptions to nmbd (1 + reconnections)
	Switches   atomic.Uint64 // mode changes
}
