package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mailslot/mailslot/agent"
	msvc "github.com/mailslot/mailslot/agent/messenger"
	"github.com/mailslot/mailslot/messenger"
	"golang.org/x/text/encoding/charmap"
)

var appCommands = []command{
	{"net", "send NAME|*|/domain[:WG] MESSAGE...", "send a Messenger popup, with the syntax of Windows' net send", runNet},
	{"messenger", "[--no-desktop] [--tty PATH]...", "show the popups for this user and host (desktop notification, else terminals)", runMessenger},
	{"messages", "[--json] [--stats]", "print the popups this user may see (the agent's bounded history)", runMessages},
	{"browse", "[--json] [--watch] [--workgroup WG] [--domains]", "print the browse list: the hosts (or workgroups) announced on the LAN", runBrowse},
}

// messengerFlags are the agent's Messenger settings.
type messengerFlags struct {
	off, anyNet, dnd, fromHost                 *bool
	allowNames, denyNames, allowNets, denyNets listFlag
	rate, burst                                *float64
	maxLen                                     *int
	codePage                                   *string
}

func addMessengerFlags(fs *flag.FlagSet) *messengerFlags {
	m := &messengerFlags{
		off:      fs.Bool("no-messenger", false, "do not run the Messenger service (net send popups)"),
		anyNet:   fs.Bool("messenger-any-net", false, "accept popups from any source network (default: only the local subnets)"),
		dnd:      fs.Bool("messenger-dnd", false, "do not disturb: refuse (and count) every popup"),
		fromHost: fs.Bool("messenger-from-host", false, "net send uses the host's name as From instead of the user's"),
		rate:     fs.Float64("messenger-rate", msvc.DefaultRate, "popups per second accepted from one source IP (-1 = unlimited)"),
		burst:    fs.Float64("messenger-burst", msvc.DefaultBurst, "burst of popups accepted from one source IP"),
		maxLen:   fs.Int("messenger-max-len", msvc.DefaultMaxLen, "longest popup text accepted (bytes)"),
		codePage: fs.String("messenger-codepage", "850", "OEM code page of popups: 437 or 850"),
	}
	fs.Var(&m.allowNames, "messenger-allow-name", "accept popups only from this sender name (repeatable)")
	fs.Var(&m.denyNames, "messenger-deny-name", "refuse popups from this sender name (repeatable)")
	fs.Var(&m.allowNets, "messenger-allow-net", "accept popups only from this source network CIDR (repeatable)")
	fs.Var(&m.denyNets, "messenger-deny-net", "refuse popups from this source network CIDR (repeatable)")
	return m
}

// attach installs the service on a; the returned function runs it.
func (m *messengerFlags) attach(a *agent.Agent, log *slog.Logger) (func(context.Context), error) {
	if *m.off {
		return func(context.Context) {}, nil
	}
	cfg := msvc.Config{FromHost: *m.fromHost, Logger: log, Policy: msvc.Policy{
		AllowNames: m.allowNames, DenyNames: m.denyNames, AnyNetwork: *m.anyNet, DoNotDisturb: *m.dnd,
		Rate: *m.rate, Burst: *m.burst, MaxLen: *m.maxLen}}
	switch *m.codePage {
	case "437":
		cfg.CodePage = charmap.CodePage437
	case "850":
		cfg.CodePage = charmap.CodePage850
	default:
		return nil, usagef("invalid --messenger-codepage %q (437 or 850)", *m.codePage)
	}
	for _, l := range []struct {
		in  listFlag
		out *[]netip.Prefix
	}{{m.allowNets, &cfg.Policy.AllowNets}, {m.denyNets, &cfg.Policy.DenyNets}} {
		for _, s := range l.in {
			p, err := netip.ParsePrefix(s)
			if err != nil || !p.Addr().Is4() {
				return nil, usagef("invalid network %q (want an IPv4 CIDR)", s)
			}
			*l.out = append(*l.out, p.Masked())
		}
	}
	s, err := msvc.New(a, cfg)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) { s.Run(ctx) }, nil
}

func runNet(args []string, stdout, stderr io.Writer, _ io.Reader) error {
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-h" || args[0] == "-help") {
		newFlags("net", stderr).Usage()
		return nil
	}
	if len(args) == 0 || !strings.EqualFold(args[0], "send") {
		return usagef("only \"net send\" is supported")
	}
	args = args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) < 2 {
		return usagef("want a name (or * or /domain[:WG]) and a message")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := messenger.Send(ctx, "", args[0], strings.Join(args[1:], " ")); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "The message was successfully sent to %s.\n", args[0])
	return nil
}

func runMessenger(args []string, _, stderr io.Writer, _ io.Reader) error {
	fs := newFlags("messenger", stderr)
	noDesktop := fs.Bool("no-desktop", false, "never use desktop notifications (terminals only)")
	var ttys listFlag
	fs.Var(&ttys, "tty", "write popups to this terminal instead of the user's terminals from utmp (repeatable)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	return messenger.Run(ctx, messenger.Options{NoDesktop: *noDesktop, Terminals: ttys, Logger: log})
}

func runMessages(args []string, stdout, stderr io.Writer, _ io.Reader) error {
	fs := newFlags("messages", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	stats := fs.Bool("stats", false, "print the service's counters (received, shown, refused) instead")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if *stats {
		st, err := messenger.Stats(ctx, "")
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(st)
	}
	recs, err := messenger.History(ctx, "")
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range recs {
		stdout.Write(messenger.FormatTerminal(r))
	}
	return nil
}

// parseNoArgs parses the flags of a command that takes no arguments.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parse(fs, args)
	if err == nil && len(pos) != 0 {
		err = usagef("%s takes no arguments", fs.Name())
	}
	return err
}
