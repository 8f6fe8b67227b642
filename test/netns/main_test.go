//go:build linux

package netns

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

// mailslotBin is the CLI under test, built once by TestMain.
var mailslotBin string

func TestMain(m *testing.M) {
	if os.Getenv(impostorEnv) != "" {
		os.Exit(impostor())
	}
	if err := netnstest.Check(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := netnstest.TempDir("bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mailslotBin = filepath.Join(dir, "mailslot")
	// A race-built process sleeps a second at exit by default so that
	// other goroutines can finish their reports; each CLI call of the
	// suite paid it. Reports are written when a race is detected, and such
	// a process still exits 66, which fails the command or the agent.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	args := []string{"build", "-o", mailslotBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool(), append(args, "github.com/mailslot/mailslot/cmd/mailslot")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mailslot: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goTool finds the go command: on PATH, or in GOROOT (go test sets it in
// the environment of test binaries).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// Timeouts. None is a performance threshold: each only bounds how long a
// broken agent can make a test hang, so they are generous for a loaded CI.
const (
	startTimeout   = 30 * time.Second // an agent registers its names
	deliverTimeout = 15 * time.Second // a datagram reaches a listener
	cmdTimeout     = 30 * time.Second // one CLI command
	quietPeriod    = 2 * time.Second  // how long "nothing arrives" is watched
)

// agent is one `mailslot agent` process in a lab host.
type agent struct {
	*netnstest.Proc
	host *netnstest.Host
	name string
	args []string
}

// startAgent runs `mailslot agent --name NAME --workgroup LABWG --interface
// eth0` (plus extra flags) in h. It does not wait for the names (waitName).
func startAgent(t *testing.T, h *netnstest.Host, name string, extra ...string) *agent {
	t.Helper()
	args := append([]string{"agent", "--name", name, "--workgroup", workgroup, "--interface", h.Iface}, extra...)
	a := &agent{host: h, name: name, args: args}
	a.Proc = h.Start(mailslotBin, args...)
	t.Cleanup(func() { checkNoRace(t, a.Proc) })
	return a
}

// restart starts the same agent again after it stopped.
func (a *agent) restart(t *testing.T) {
	t.Helper()
	if ok, _ := a.Exited(); !ok {
		t.Fatalf("%s: restart while still running", a.Name())
	}
	a.Proc = a.host.Start(mailslotBin, a.args...)
	p := a.Proc
	t.Cleanup(func() { checkNoRace(t, p) })
}

func checkNoRace(t *testing.T, p *netnstest.Proc) {
	if strings.Contains(p.Output(), "WARNING: DATA RACE") {
		t.Errorf("%s: the race detector found a data race:\n%s", p.Name(), p.Output())
	}
}

const workgroup = "LABWG"

// waitName waits until a broadcast name query from `from` (nmblookup, an
// independent client) finds name<00> at want.
func waitName(t *testing.T, from *netnstest.Host, name string, want netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		out, err := from.Run(cmdTimeout, "nmblookup", "-B", from.Broadcast.String(), name)
		if err == nil && strings.Contains(out, want.String()+" "+name+"<00>") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s<00> not resolvable at %v from %s within %v: %v\n%s", name, want, from, startTimeout, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// msResult is the outcome of one CLI command.
type msResult struct {
	stdout, stderr string
	code           int // exit status; -1 when it did not exit normally
	elapsed        time.Duration
}

// ms runs the mailslot CLI in h.
func ms(h *netnstest.Host, args ...string) msResult {
	start := time.Now()
	o, e, err := h.RunOut(cmdTimeout, mailslotBin, args...)
	r := msResult{stdout: o, stderr: e, elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		r.code = -1
		r.stderr += "\n" + err.Error()
	}
	return r
}

func (r msResult) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout: %s\nstderr: %s", r.code, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
}

// mustMS runs the CLI and fails the test unless it exits 0.
func mustMS(t *testing.T, h *netnstest.Host, args ...string) msResult {
	t.Helper()
	r := ms(h, args...)
	if r.code != 0 {
		t.Fatalf("mailslot %s on %s: %v", strings.Join(args, " "), h, r)
	}
	return r
}

// message is one line of `mailslot listen --json`.
type message struct {
	Size   int     `json:"size"`
	Data   string  `json:"data"`
	Text   *string `json:"text"`
	Sender struct {
		Name string `json:"name"`
		IP   string `json:"ip"`
		Port int    `json:"port"`
		PID  *int   `json:"pid"`
	} `json:"sender"`
}

func (m message) payload() string {
	b, err := base64.StdEncoding.DecodeString(m.Data)
	if err != nil {
		return "<bad base64 " + m.Data + ">"
	}
	return string(b)
}

// listener is a `mailslot listen --json` process.
type listener struct {
	*netnstest.Proc
	t    *testing.T
	slot string
}

// listen creates slot in h and waits until it exists.
func listen(t *testing.T, h *netnstest.Host, slot string, flags ...string) *listener {
	t.Helper()
	p := h.Start(mailslotBin, append([]string{"listen", "--json", slot}, flags...)...)
	if _, err := p.WaitOutput(`listening on`, cmdTimeout); err != nil {
		t.Fatal(err)
	}
	return &listener{Proc: p, t: t, slot: slot}
}

// messages parses what the listener printed so far.
func (l *listener) messages() []message {
	l.t.Helper()
	var out []message
	for _, line := range netnstest.Lines(l.Stdout()) {
		var m message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			l.t.Fatalf("%s printed a line that is not JSON: %q: %v", l.Name(), line, err)
		}
		out = append(out, m)
	}
	return out
}

// waitFor waits until a message with this payload arrived and returns every
// message with it (more than one is a duplicate delivery).
func (l *listener) waitFor(payload string) []message {
	l.t.Helper()
	deadline := time.Now().Add(deliverTimeout)
	for {
		if got := l.with(payload); len(got) > 0 {
			// Leave duplicates a moment to show up.
			time.Sleep(300 * time.Millisecond)
			return l.with(payload)
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: %q did not arrive within %v; got %d other messages; output:\n%s",
				l.Name(), payload, deliverTimeout, len(l.messages()), l.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// with returns the messages received so far with this payload.
func (l *listener) with(payload string) []message {
	var got []message
	for _, m := range l.messages() {
		if m.payload() == payload {
			got = append(got, m)
		}
	}
	return got
}

// expectOnce waits for payload and checks it came exactly once from the
// agent named from at ip, port 138.
func (l *listener) expectOnce(payload, from string, ip netip.Addr) {
	l.t.Helper()
	got := l.waitFor(payload)
	if len(got) != 1 {
		l.t.Errorf("%s: %q delivered %d times, want once", l.Name(), payload, len(got))
	}
	s := got[0].Sender
	if s.Name != from || s.IP != ip.String() || s.Port != 138 || s.PID != nil {
		l.t.Errorf("%s: sender of %q is %+v (pid %v), want name %s ip %v port 138 and no pid", l.Name(), payload, s, s.PID, from, ip)
	}
}

// expectNone checks that nothing with payload arrives for quietPeriod.
func (l *listener) expectNone(payload string) {
	l.t.Helper()
	time.Sleep(quietPeriod)
	if got := l.with(payload); len(got) > 0 {
		l.t.Errorf("%s: %q arrived %d times, want never", l.Name(), payload, len(got))
	}
}
