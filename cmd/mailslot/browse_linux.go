package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mailslot/mailslot/agent"
	bsvc "github.com/mailslot/mailslot/agent/browse"
	"github.com/mailslot/mailslot/browse"
	"github.com/mailslot/mailslot/wire/browser"
)

// browseFlags are the agent's browse settings.
type browseFlags struct {
	off       *bool
	browser   *bool
	osLevel   *uint
	comment   *string
	typ       *string
	timeScale *float64
	svc       *bsvc.Service // once attached
}

func addBrowseFlags(fs *flag.FlagSet) *browseFlags {
	return &browseFlags{
		off:     fs.Bool("no-browse", false, "do not announce the host nor keep the browse list"),
		browser: fs.Bool("browser", false, "be a potential browser: take part in elections, be the local master browser when elected"),
		osLevel: fs.Uint("os-level", bsvc.DefaultOSLevel, "the os level in browser elections (0-255; Samba's default is 20)"),
		comment: fs.String("comment", "", "the host's comment in the browse list (at most 43 bytes)"),
		typ:     fs.String("server-type", fmt.Sprintf("%#08x", uint32(bsvc.DefaultType)), "the host's ServerType bits (SV_TYPE_*)"),
		timeScale: fs.Float64("browse-test-time-scale", 1,
			"TEST ONLY: multiply the browse periods (announcements, expiry, answer delay) by this factor"),
	}
}

func (b *browseFlags) attach(a *agent.Agent, log *slog.Logger) (func(context.Context), error) {
	if *b.off {
		return func(context.Context) {}, nil
	}
	t, err := strconv.ParseUint(*b.typ, 0, 32)
	if err != nil {
		return nil, usagef("invalid --server-type %q", *b.typ)
	}
	if *b.osLevel > 255 {
		return nil, usagef("invalid --os-level %d (0-255)", *b.osLevel)
	}
	s, err := bsvc.New(a, bsvc.Config{Comment: *b.comment, Type: browser.ServerType(t), TimeScale: *b.timeScale, Logger: log,
		Browser: *b.browser, OSLevel: uint8(*b.osLevel)})
	if err != nil {
		return nil, err
	}
	b.svc = s
	return func(ctx context.Context) { s.Run(ctx) }, nil
}

// appFlags are the in-agent applications' settings.
type appFlags struct {
	m *messengerFlags
	b *browseFlags
}

func addAppFlags(fs *flag.FlagSet) *appFlags {
	return &appFlags{m: addMessengerFlags(fs), b: addBrowseFlags(fs)}
}

// attach installs the applications; the returned function runs them until
// ctx ends and returns once their last words (the browse service's
// "going down" announcement) are sent.
func (f *appFlags) attach(a *agent.Agent, log *slog.Logger) (func(context.Context), error) {
	rm, err := f.m.attach(a, log)
	if err != nil {
		return nil, err
	}
	rb, err := f.b.attach(a, log)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) {
		done := make(chan struct{})
		go func() { rm(ctx); close(done) }()
		rb(ctx)
		<-done
	}, nil
}

// metricsHandler serves the agent's metrics and the applications'
// counters.
func (f *appFlags) metricsHandler(a *agent.Agent) http.Handler {
	h := a.MetricsHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if s := f.b.svc; s != nil {
			agent.WriteCounters(w, "mailslot_browse_", &s.C)
		}
	})
}

// runAgentWithApps runs the agent until the applications are done after
// ctx ends, so that they can still send.
func runAgentWithApps(ctx context.Context, a *agent.Agent, apps func(context.Context)) error {
	actx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		apps(ctx)
		cancel()
	}()
	return a.Run(actx)
}

func runBrowse(args []string, stdout, stderr io.Writer, _ io.Reader) error {
	fs := newFlags("browse", stderr)
	asJSON := fs.Bool("json", false, "print JSON (one entry per line; with --watch one event per line)")
	watch := fs.Bool("watch", false, "stream the changes (appear, change, disappear)")
	wg := fs.String("workgroup", "", "only this workgroup")
	domains := fs.Bool("domains", false, "list the workgroups instead of the hosts")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	want := func(e *browse.Entry) bool {
		if (e.Kind == browse.KindDomain) != *domains {
			return false
		}
		return *wg == "" || strings.EqualFold(e.Workgroup, *wg)
	}
	if *watch {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		events, err := browse.Watch(ctx, "")
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		for ev := range events {
			if !want(&ev.Entry) {
				continue
			}
			if *asJSON {
				enc.Encode(ev)
			} else {
				fmt.Fprintf(stdout, "%-9s %-15s %-15s %-15s %s\n", ev.Type, ev.Entry.Name, ev.Entry.Workgroup, ev.Entry.Addr, ev.Entry.Comment)
			}
		}
		if ctx.Err() == nil {
			return fmt.Errorf("browse: the agent went away")
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	entries, masters, err := browse.List(ctx, "")
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if want(&e) {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tWORKGROUP\tADDRESS\tTYPE\tOS\tCOMMENT")
	for _, e := range entries {
		if want(&e) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%08x\t%d.%d\t%s\n", e.Name, e.Workgroup, e.Addr, e.Type, e.OSMajor, e.OSMinor, e.Comment)
		}
	}
	tw.Flush()
	var wgs []string
	for w := range masters {
		if *wg == "" || strings.EqualFold(w, *wg) {
			wgs = append(wgs, w)
		}
	}
	sort.Strings(wgs)
	for _, w := range wgs {
		fmt.Fprintf(stdout, "master browser of %s: %s\n", w, masters[w])
	}
	return nil
}
