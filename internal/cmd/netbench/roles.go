//go:build linux

package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

// A role is one side of a measurement. The orchestrator runs each role as
// its own process inside a lab host (ip netns exec netbench -role NAME), so
// the raw baseline and the mailslot path pay the same costs: separate
// processes, the same CPUs, the same veth pair.
type role func(fs *flag.FlagSet, args []string) (any, error)

var roles = map[string]role{
	"udp-recv": udpRecv,
	"udp-send": udpSend,
	"udp-echo": udpEcho,
	"udp-ping": udpPing,
	"flood":    flood,
}

// recvResult is what a receiving role reports.
type recvResult struct {
	Received int     `json:"received"` // distinct sequence numbers
	Dups     int     `json:"dups"`
	Seconds  float64 `json:"seconds"` // first to last message
}

// sendResult is what a sending role reports.
type sendResult struct {
	Sent    int     `json:"sent"`
	Seconds float64 `json:"seconds"`
	Errors  int     `json:"errors"`
}

// pingResult is what a round-trip role reports, in microseconds.
type pingResult struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_us"`
	P90 float64 `json:"p90_us"`
	P99 float64 `json:"p99_us"`
}

// counter counts distinct sequence numbers (the first 8 bytes of each
// payload) and the span from first to last arrival.
type counter struct {
	seen        map[uint64]bool
	dups        int
	first, last time.Time
}

func newCounter() *counter { return &counter{seen: map[uint64]bool{}} }

func (c *counter) add(p []byte) {
	if len(p) < 8 {
		return
	}
	now := time.Now()
	if c.first.IsZero() {
		c.first = now
	}
	c.last = now
	seq := binary.BigEndian.Uint64(p)
	if c.seen[seq] {
		c.dups++
		return
	}
	c.seen[seq] = true
}

func (c *counter) result() recvResult {
	return recvResult{Received: len(c.seen), Dups: c.dups, Seconds: c.last.Sub(c.first).Seconds()}
}

// ready tells the orchestrator the role can take traffic.
func ready() { fmt.Fprintln(os.Stderr, "ready") }

func udpRecv(fs *flag.FlagSet, args []string) (any, error) {
	addr := fs.String("listen", "", "ip:port")
	count := fs.Int("count", 0, "stop after this many distinct messages")
	idle := fs.Duration("idle", time.Second, "stop when nothing arrives for this long (after the first)")
	total := fs.Duration("timeout", 60*time.Second, "stop after this long in any case")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp4", *addr)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	_ = pc.(*net.UDPConn).SetReadBuffer(4 << 20)
	ready()
	c := newCounter()
	buf := make([]byte, 2048)
	end := time.Now().Add(*total)
	for len(c.seen) < *count {
		d := end
		if !c.first.IsZero() && time.Now().Add(*idle).Before(d) {
			d = time.Now().Add(*idle)
		}
		pc.SetReadDeadline(d)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		c.add(buf[:n])
	}
	return c.result(), nil
}

// pacer spaces n events at rate per second (0: no pacing).
type pacer struct {
	start time.Time
	rate  float64
}

func (p pacer) wait(i int) {
	if p.rate <= 0 {
		return
	}
	due := p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
	if d := time.Until(due); d > 200*time.Microsecond {
		time.Sleep(d)
	}
}

// payload returns a message of size bytes carrying seq.
func payload(size int, seq uint64) []byte {
	b := make([]byte, max(size, 8))
	for i := 8; i < len(b); i++ {
		b[i] = 'a' + byte(i%26)
	}
	binary.BigEndian.PutUint64(b, seq)
	return b
}

func udpSend(fs *flag.FlagSet, args []string) (any, error) {
	to := fs.String("to", "", "ip:port")
	size := fs.Int("size", 64, "payload bytes")
	count := fs.Int("count", 1000, "messages")
	rate := fs.Float64("rate", 0, "messages per second (0 = as fast as possible)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	dst, err := net.ResolveUDPAddr("udp4", *to)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	r := sendResult{}
	p := pacer{start: time.Now(), rate: *rate}
	b := payload(*size, 0)
	for i := 0; i < *count; i++ {
		p.wait(i)
		binary.BigEndian.PutUint64(b, uint64(i))
		if _, err := pc.WriteTo(b, dst); err != nil {
			r.Errors++
			continue
		}
		r.Sent++
	}
	r.Seconds = time.Since(p.start).Seconds()
	return r, nil
}

func udpEcho(fs *flag.FlagSet, args []string) (any, error) {
	addr := fs.String("listen", "", "ip:port")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp4", *addr)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	ready()
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return nil, err
		}
		pc.WriteTo(buf[:n], from)
	}
}

func udpPing(fs *flag.FlagSet, args []string) (any, error) {
	to := fs.String("to", "", "ip:port")
	size := fs.Int("size", 64, "payload bytes")
	count := fs.Int("count", 2000, "round trips")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	dst, err := net.ResolveUDPAddr("udp4", *to)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	buf := make([]byte, 2048)
	b := payload(*size, 0)
	var rtts []time.Duration
	for i := 0; i < *count; i++ {
		binary.BigEndian.PutUint64(b, uint64(i))
		start := time.Now()
		if _, err := pc.WriteTo(b, dst); err != nil {
			return nil, err
		}
		pc.SetReadDeadline(start.Add(2 * time.Second))
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				break // lost: not counted
			}
			if n >= 8 && binary.BigEndian.Uint64(buf) == uint64(i) {
				rtts = append(rtts, time.Since(start))
				break
			}
		}
	}
	return percentiles(rtts), nil
}

func percentiles(d []time.Duration) pingResult {
	if len(d) == 0 {
		return pingResult{}
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		return float64(d[int(q*float64(len(d)-1))].Nanoseconds()) / 1e3
	}
	return pingResult{N: len(d), P50: at(0.5), P90: at(0.9), P99: at(0.99)}
}

// flood sends garbage to UDP 137 and 138 of a host as fast as it can
// (netnstest.Flood).
func flood(fs *flag.FlagSet, args []string) (any, error) {
	to := fs.String("to", "", "target ip")
	count := fs.Int("count", 100000, "datagrams in all (half to each port)")
	rate := fs.Float64("rate", 0, "datagrams per second (0 = as fast as possible)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	target, err := netip.ParseAddr(*to)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	ready()
	start := time.Now()
	n, err := netnstest.Flood(pc, target, *count, *rate, 1)
	return sendResult{Sent: n, Errors: *count - n, Seconds: time.Since(start).Seconds()}, err
}

// runRole runs the named role and prints its result as one JSON line.
func runRole(name string, args []string) int {
	f, ok := roles[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "netbench: unknown role %q\n", name)
		return 2
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	res, err := f(fs, args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netbench %s: %v\n", name, err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
