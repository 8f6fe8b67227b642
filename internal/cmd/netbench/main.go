//go:build linux

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-role" {
		os.Exit(runRole(os.Args[2], os.Args[3:]))
	}
	msBin := flag.String("mailslot", "", "mailslot binary to run as the agent (default: go build ./cmd/mailslot)")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	n := flag.Int("n", 20000, "messages per throughput run")
	limits := flag.Bool("default-limits", false, "keep the agents' default rate limits (per source IP and per local user) instead of lifting them")
	flag.Parse()
	log.SetFlags(log.Ltime)
	r := &runner{}
	code := 0
	func() {
		defer func() {
			if e := recover(); e != nil {
				if f, ok := e.(fatal); ok {
					log.Printf("netbench: %s", string(f))
					code = 1
					return
				}
				r.close()
				panic(e)
			}
		}()
		rep := run(r, config{ms: *msBin, n: *n, defaultLimits: *limits, flood: 100000, pings: 2000, rates: rates})
		if *asJSON {
			b, _ := json.MarshalIndent(rep, "", "  ")
			fmt.Println(string(b))
		} else {
			rep.print(os.Stdout)
		}
	}()
	r.close()
	if r.failed && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// runner lets the lab run outside go test: it collects cleanups and turns
// Fatal into a panic that main recovers.
type runner struct {
	cleanups []func()
	failed   bool
}

type fatal string

func (r *runner) Helper()          {}
func (r *runner) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *runner) Failed() bool     { return r.failed }
func (r *runner) Logf(f string, a ...any) {
	log.Printf(f, a...)
}
func (r *runner) Errorf(f string, a ...any) {
	r.failed = true
	log.Printf(f, a...)
}
func (r *runner) Fatal(a ...any) {
	r.failed = true
	panic(fatal(fmt.Sprint(a...)))
}
func (r *runner) Fatalf(f string, a ...any) {
	r.failed = true
	panic(fatal(fmt.Sprintf(f, a...)))
}

func (r *runner) close() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

// buildMailslot builds the CLI into a temporary directory.
func buildMailslot(r *runner) string {
	dir, err := netnstest.TempDir("netbench")
	if err != nil {
		r.Fatal(err)
	}
	r.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "mailslot")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/mailslot/mailslot/cmd/mailslot").CombinedOutput()
	if err != nil {
		r.Fatalf("building mailslot: %v\n%s", err, out)
	}
	return bin
}

// bench is one lab with an agent per host.
type bench struct {
	r      *runner
	self   string // this program, run again inside hosts for each role
	ms     string
	lab    *netnstest.Lab
	hosts  []*netnstest.Host // alpha sends; bravo, charlie, delta receive
	agents []*netnstest.Proc
}

const benchWG = "BENCHWG"

// metricsAddr is where each agent serves its metrics, in its namespace.
const metricsAddr = "127.0.0.1:9137"

func (b *bench) nbName(h *netnstest.Host) string { return strings.ToUpper(h.Role) }

// config sizes one benchmark run.
type config struct {
	ms            string // mailslot binary ("" = build it)
	n             int    // messages per throughput and fan-out run
	defaultLimits bool   // keep the agents' rate limits
	flood         int    // garbage datagrams in the flood
	pings         int    // round trips
	rates         []float64
}

func run(r *runner, cfg config) *report {
	msBin, n, defaultLimits := cfg.ms, cfg.n, cfg.defaultLimits
	if err := netnstest.Check(); err != nil {
		r.Fatal(err)
	}
	if msBin == "" {
		msBin = buildMailslot(r)
	}
	self, err := os.Executable()
	if err != nil {
		r.Fatal(err)
	}
	b := &bench{r: r, self: self, ms: msBin, lab: netnstest.New(r)}
	b.hosts = b.lab.AddHosts("alpha", "bravo", "charlie", "delta")
	// The default per-source and per-user limits (10,000/s) would be what
	// the throughput runs measure; lift them to measure the path itself.
	var extra []string
	if !defaultLimits {
		extra = []string{"--rate-in", "-1", "--rate-out", "-1"}
	}
	for _, h := range b.hosts {
		args := append([]string{"agent", "--name", b.nbName(h), "--workgroup", benchWG, "--interface", h.Iface, "--metrics", metricsAddr}, extra...)
		b.agents = append(b.agents, h.Start(msBin, args...))
	}
	for _, h := range b.hosts[1:] {
		b.waitResolves(b.hosts[0], b.nbName(h))
	}
	b.waitResolves(b.hosts[1], b.nbName(b.hosts[0]))
	rep := &report{When: time.Now().UTC().Format(time.RFC3339), Messages: n, DefaultLimits: defaultLimits}
	rep.System = systemInfo()
	b.measure(rep, cfg)
	return rep
}

func (b *bench) waitResolves(from *netnstest.Host, name string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := from.Run(10*time.Second, b.ms, "lookup", name)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.r.Fatalf("%s does not resolve from %s: %v %s", name, from, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// start runs a receiving role in h and waits until it is ready.
func (b *bench) start(h *netnstest.Host, role string, args ...string) *netnstest.Proc {
	p := h.Start(b.self, append([]string{"-role", role}, args...)...)
	if _, err := p.WaitOutput(`(?m)^ready$`, 30*time.Second); err != nil {
		b.r.Fatal(err)
	}
	return p
}

// call runs a role to completion in h and decodes its result into v.
func (b *bench) call(h *netnstest.Host, v any, role string, args ...string) {
	out, stderr, err := h.RunOut(5*time.Minute, b.self, append([]string{"-role", role}, args...)...)
	if err != nil {
		b.r.Fatalf("%s on %s: %v\n%s", role, h, err, stderr)
	}
	decodeLast(b.r, out, v)
}

// result waits for a started role to finish and decodes its result.
func (b *bench) result(p *netnstest.Proc, v any) {
	if err := p.Wait(2 * time.Minute); err != nil {
		b.r.Fatalf("%s: %v\n%s", p.Name(), err, p.Output())
	}
	decodeLast(b.r, p.Stdout(), v)
}

func decodeLast(r *runner, out string, v any) {
	lines := netnstest.Lines(out)
	if len(lines) == 0 {
		r.Fatalf("no result in %q", out)
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
		r.Fatalf("bad result %q: %v", lines[len(lines)-1], err)
	}
}
