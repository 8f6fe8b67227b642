package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/internal/privdrop"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

var netCommands = []command{
	{"agent", "[--name N] [--workgroup WG] [--interface IFACE]... [--config FILE] [flags]", "run the host's NetBIOS network agent in the foreground", runAgent},
	{"lookup", "NAME[<xx>] [--json]", "resolve a NetBIOS name through the agent (like nmblookup)", runLookup},
	{"status", "HOST|IP [--json]", "ask a host for its NetBIOS name table (like nmblookup -A)", runStatus},
	{"names", "[--json]", "show the agent's own names and their state", runNames},
}

// agentConfigEnv names an optional config file read when --config is not
// given (the systemd unit sets it); a missing file is not an error.
const agentConfigEnv = "MAILSLOT_AGENT_CONFIG"

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// configFromFile applies a key = value file to fs: the keys are the flag
// names, '#' starts a comment, repeatable flags may appear several times.
func configFromFile(fs *flag.FlagSet, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return fmt.Errorf("%s:%d: want key = value", path, n)
		}
		if k == "config" || fs.Lookup(k) == nil {
			return fmt.Errorf("%s:%d: unknown setting %q", path, n, k)
		}
		if err := fs.Set(k, v); err != nil {
			return fmt.Errorf("%s:%d: %s: %v", path, n, k, err)
		}
	}
	return sc.Err()
}

// findConfig returns the --config value in args, if any.
func findConfig(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, p := range []string{"--config", "-config"} {
			if a == p && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v
			}
		}
	}
	return ""
}

func runAgent(args []string, _, stderr io.Writer, _ io.Reader) error {
	fs := newFlags("agent", stderr)
	name := fs.String("name", "", "NetBIOS name of this host (default: the host name, upper-cased, 15 characters)")
	workgroup := fs.String("workgroup", agent.DefaultWorkgroup, "workgroup to join")
	var ifaces, statics, allowUsers, allowGroups, allowNets listFlag
	fs.Var(&ifaces, "interface", "serve this interface (repeatable; default: every up IPv4 interface but loopback)")
	fs.String("config", "", "read settings from this key = value file first (keys are the flag names)")
	wins := fs.String("wins", "", "WINS server address (optional)")
	fs.Var(&statics, "static", "static name entry NAME=IP, lmhosts style (repeatable)")
	fs.Var(&allowUsers, "allow-user", "local user (name or uid) allowed to send to the network (repeatable; default: everyone)")
	fs.Var(&allowGroups, "allow-group", "local group (name or gid) allowed to send to the network (repeatable)")
	fs.Var(&allowNets, "allow-net", "accept datagrams only from this source network CIDR (repeatable; default: any)")
	rateIn := fs.Float64("rate-in", agent.DefaultRateIn, "packets per second accepted from one source IP (-1 = unlimited)")
	burstIn := fs.Float64("burst-in", agent.DefaultBurstIn, "burst of packets accepted from one source IP")
	rateOut := fs.Float64("rate-out", agent.DefaultRateOut, "messages per second one local user may send (-1 = unlimited)")
	burstOut := fs.Float64("burst-out", agent.DefaultBurstOut, "burst of messages one local user may send")
	style := fs.String("style", "windows", "SMB framing of outgoing writes: windows or samba")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9137)")
	sambaOpts := addSambaFlags(fs)
	nf := addNATSFlags(fs)
	apps := addAppFlags(fs)
	runAs := fs.String("user", "", "drop privileges to this user after binding (default: nobody when started as root; \"root\" keeps them)")
	if cfg := findConfig(args); cfg != "" {
		if err := configFromFile(fs, cfg); err != nil {
			return usageError{err}
		}
	} else if cfg := os.Getenv(agentConfigEnv); cfg != "" {
		// The service's default file is optional.
		if err := configFromFile(fs, cfg); err != nil && !errors.Is(err, os.ErrNotExist) {
			return usageError{err}
		}
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("agent takes no arguments")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("invalid --log-level %q", *logLevel)
	}
	var h slog.Handler
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	case "json":
		h = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	default:
		return usagef("invalid --log-format %q (text or json)", *logFormat)
	}
	cfg := agent.Config{Name: *name, Workgroup: *workgroup, Interfaces: ifaces, Logger: slog.New(h),
		RateIn: *rateIn, BurstIn: *burstIn, RateOut: *rateOut, BurstOut: *burstOut}
	if err := sambaOpts.apply(&cfg); err != nil {
		return err
	}
	switch *style {
	case "windows":
		cfg.Style = smbmail.Windows
	case "samba":
		cfg.Style = smbmail.Samba
	default:
		return usagef("invalid --style %q (windows or samba)", *style)
	}
	if *wins != "" {
		if cfg.WINS, err = netip.ParseAddr(*wins); err != nil || !cfg.WINS.Is4() {
			return usagef("invalid --wins %q (want an IPv4 address)", *wins)
		}
	}
	for _, s := range statics {
		n, ip, ok := strings.Cut(s, "=")
		a, err := netip.ParseAddr(strings.TrimSpace(ip))
		if !ok || err != nil || !a.Is4() {
			return usagef("invalid --static %q (want NAME=IPv4)", s)
		}
		nb, err := parseNBName(strings.TrimSpace(n))
		if err != nil {
			return usagef("invalid --static %q: %v", s, err)
		}
		cfg.Static = append(cfg.Static, names.Static{Name: nb, Addr: a})
	}
	for _, n := range allowNets {
		p, err := netip.ParsePrefix(n)
		if err != nil || !p.Addr().Is4() {
			return usagef("invalid --allow-net %q (want an IPv4 CIDR)", n)
		}
		cfg.AllowNetworks = append(cfg.AllowNetworks, p.Masked())
	}
	for _, u := range allowUsers {
		id, err := lookupID(u, false)
		if err != nil {
			return usageError{err}
		}
		cfg.AllowUsers = append(cfg.AllowUsers, id)
	}
	for _, g := range allowGroups {
		id, err := lookupID(g, true)
		if err != nil {
			return usageError{err}
		}
		cfg.AllowGroups = append(cfg.AllowGroups, id)
	}
	if *name != "" && len(*name) > 15 {
		return usagef("--name %q is longer than 15 characters", *name)
	}
	if err := nf.validate(); err != nil {
		return err
	}
	// Bind everything while privileged, then drop privileges. One thread
	// keeps CAP_NET_BIND_SERVICE to bind interfaces that appear later.
	uid, gid, drop, err := runAsUser(*runAs)
	if err != nil {
		return err
	}
	var keeper *privdrop.Keeper
	if drop {
		keeper = privdrop.New()
		cfg.Privileged = keeper.Do
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	runApps, err := apps.attach(a, cfg.Logger)
	if err != nil {
		return err
	}
	var srv *http.Server
	if *metrics != "" {
		ln, err := net.Listen("tcp", *metrics)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		srv = &http.Server{Handler: apps.metricsHandler(a), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
	}
	link, err := nf.start(a, cfg.Logger)
	if err != nil {
		return err
	}
	if drop {
		if err := keeper.Drop(uid, gid, privdrop.Needed()); err != nil {
			return fmt.Errorf("dropping privileges: %w", err)
		}
		cfg.Logger.Info("privileges dropped", "uid", uid, "gid", gid, "kept", fmt.Sprintf("%#x on one thread, to bind new interfaces", keeper.Kept()))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if link != nil {
		defer link.close()
		done := make(chan struct{})
		go link.run(ctx, done)
		defer func() { stop(); <-done }()
	}
	return runAgentWithApps(ctx, a, runApps)
}

// parseNBName accepts NAME or NAME<xx>.
func parseNBName(s string) (netbios.Name, error) {
	if !strings.HasSuffix(s, ">") {
		return netbios.New(s, netbios.Workstation)
	}
	return netbios.Parse(s)
}

func lookupID(s string, group bool) (int, error) {
	if id, err := strconv.Atoi(s); err == nil && id >= 0 {
		return id, nil
	}
	if group {
		g, err := user.LookupGroup(s)
		if err != nil {
			return 0, fmt.Errorf("unknown group %q", s)
		}
		return strconv.Atoi(g.Gid)
	}
	u, err := user.Lookup(s)
	if err != nil {
		return 0, fmt.Errorf("unknown user %q", s)
	}
	return strconv.Atoi(u.Uid)
}

// runAsUser resolves --user: the uid and gid to switch to after binding,
// and whether to switch at all (only when running as root, and not to
// root). The sockets stay open; the agent socket keeps the root
// credentials it was created with, which is what clients check.
func runAsUser(name string) (uid, gid int, drop bool, err error) {
	if os.Geteuid() != 0 || name == "root" || name == "0" {
		return 0, 0, false, nil
	}
	if name == "" {
		name = "nobody"
	}
	u, err := user.Lookup(name)
	if err != nil {
		if id, aerr := strconv.Atoi(name); aerr == nil {
			u = &user.User{Uid: strconv.Itoa(id), Gid: strconv.Itoa(id)}
		} else {
			return 0, 0, false, fmt.Errorf("--user %q: %w", name, err)
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, false, err
	}
	return uid, gid, uid != 0, nil
}
