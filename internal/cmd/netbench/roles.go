//go:build linux

package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"
)

// A role is one side of a measurement. The orchestrator runs each role as
// its own process inside a lab host (ip netns exec netbench -role NAME), so
// the raw baseline and the mailslot path pay the same costs: separate
// processes, the same CPUs, the same veth pair. Each transport (raw UDP in
// rawroles.go, mailslots in slotroles.go) supplies open/read/write; the
// loops below are shared, so both paths do exactly the same work.
type role func(fs *flag.FlagSet, args []string) (any, error)

var roles = map[string]role{}

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

// errTimeout is what a transport's read returns at its deadline.
var errTimeout = errors.New("timeout")

// readFunc reads one message, waiting until deadline at most.
type readFunc func(deadline time.Time) ([]byte, error)

// recvFlags are the flags of every receiving role.
type recvFlags struct {
	at           *string
	count        *int
	idle, timout *time.Duration
}

func addRecvFlags(fs *flag.FlagSet, at string) recvFlags {
	return recvFlags{
		at:     fs.String(at, "", "where to receive (ip:port or a mailslot)"),
		count:  fs.Int("count", 0, "stop after this many distinct messages"),
		idle:   fs.Duration("idle", time.Second, "stop when nothing arrives for this long (after the first)"),
		timout: fs.Duration("timeout", 60*time.Second, "stop after this long in any case"),
	}
}

// recvAll reads until count distinct sequence numbers (the first 8 bytes
// of each payload) arrived, nothing came for idle, or timeout.
func recvAll(f recvFlags, read readFunc) recvResult {
	ready()
	seen := map[uint64]bool{}
	var first, last time.Time
	dups := 0
	end := time.Now().Add(*f.timout)
	for len(seen) < *f.count {
		d := end
		if !first.IsZero() && time.Now().Add(*f.idle).Before(d) {
			d = time.Now().Add(*f.idle)
		}
		p, err := read(d)
		if err != nil {
			break
		}
		if len(p) < 8 {
			continue
		}
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		last = now
		seq := binary.BigEndian.Uint64(p)
		if seen[seq] {
			dups++
			continue
		}
		seen[seq] = true
	}
	return recvResult{Received: len(seen), Dups: dups, Seconds: last.Sub(first).Seconds()}
}

// sendFlags are the flags of every sending role.
type sendFlags struct {
	to          *string
	size, count *int
	rate        *float64
}

func addSendFlags(fs *flag.FlagSet, count int) sendFlags {
	return sendFlags{
		to:    fs.String("to", "", "destination (ip:port or a mailslot)"),
		size:  fs.Int("size", 64, "payload bytes"),
		count: fs.Int("count", count, "messages"),
		rate:  fs.Float64("rate", 0, "messages per second (0 = as fast as possible)"),
	}
}

// sendAll writes count numbered messages, paced at rate.
func sendAll(f sendFlags, write func([]byte) error) sendResult {
	r := sendResult{}
	start := time.Now()
	b := payload(*f.size)
	for i := 0; i < *f.count; i++ {
		if *f.rate > 0 {
			due := start.Add(time.Duration(float64(i) / *f.rate * float64(time.Second)))
			if d := time.Until(due); d > 200*time.Microsecond {
				time.Sleep(d)
			}
		}
		binary.BigEndian.PutUint64(b, uint64(i))
		if err := write(b); err != nil {
			r.Errors++
			continue
		}
		r.Sent++
	}
	r.Seconds = time.Since(start).Seconds()
	return r
}

// pingAll measures count round trips: write a numbered message, read until
// its echo comes back (2 s at most; a lost one is not counted).
func pingAll(size, count int, write func([]byte) error, read readFunc) (pingResult, error) {
	b := payload(size)
	var rtts []time.Duration
	for i := 0; i < count; i++ {
		binary.BigEndian.PutUint64(b, uint64(i))
		start := time.Now()
		if err := write(b); err != nil {
			return pingResult{}, err
		}
		for {
			p, err := read(start.Add(2 * time.Second))
			if err != nil {
				break
			}
			if len(p) >= 8 && binary.BigEndian.Uint64(p) == uint64(i) {
				rtts = append(rtts, time.Since(start))
				break
			}
		}
	}
	return percentiles(rtts), nil
}

// echoAll answers every message with the same bytes, until read fails.
func echoAll(write func([]byte) error, read readFunc) error {
	ready()
	for {
		p, err := read(time.Time{})
		if err != nil {
			return err
		}
		write(p)
	}
}

// payload returns a message of size bytes (at least 8, for the number).
func payload(size int) []byte {
	b := make([]byte, max(size, 8))
	for i := 8; i < len(b); i++ {
		b[i] = 'a' + byte(i%26)
	}
	return b
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

// ready tells the orchestrator the role can take traffic.
func ready() { fmt.Fprintln(os.Stderr, "ready") }

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
