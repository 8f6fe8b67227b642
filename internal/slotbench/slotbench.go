// Package slotbench measures local mailslots against the physical baseline
// on the same machine: a raw Unix datagram socket used the same way (one
// receiving socket, connected blocking writers). mailslot bench and the
// package's Go benchmarks both run these functions, so the two report the
// same thing.
package slotbench

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailslot/mailslot"
)

var seq atomic.Int64

func uniqueName(kind string) string {
	return fmt.Sprintf("bench-%s-%d-%d", kind, os.Getpid(), seq.Add(1))
}

// endpoint is one receiving end and a way to make writers for it.
type endpoint struct {
	read      func(p []byte) (int, error)
	newWriter func() (func(p []byte) error, func(), error)
	close     func()
}

func rawEndpoint() (*endpoint, error) {
	addr := &net.UnixAddr{Name: "@" + uniqueName("raw"), Net: "unixgram"}
	c, err := net.ListenUnixgram("unixgram", addr)
	if err != nil {
		return nil, err
	}
	return &endpoint{
		read: c.Read,
		newWriter: func() (func([]byte) error, func(), error) {
			w, err := net.DialUnix("unixgram", nil, addr)
			if err != nil {
				return nil, nil, err
			}
			return func(p []byte) error { _, err := w.Write(p); return err }, func() { w.Close() }, nil
		},
		close: func() { c.Close() },
	}, nil
}

// Namespace is the mailslot namespace the benchmarks use, so that an
// attacker can find their slots and nothing else.
var Namespace = fmt.Sprintf("bench-%d", os.Getpid())

// WriteTimeout is the write timeout of the benchmark's mailslot writers:
// long, so that they wait for room like the raw baseline's blocking writes.
const WriteTimeout = time.Minute

func slotEndpoint() (*endpoint, error) {
	name := `\\.\mailslot\` + uniqueName("slot")
	s, err := mailslot.Create(name, &mailslot.Config{ReadTimeout: mailslot.WaitForever, Namespace: Namespace})
	if err != nil {
		return nil, err
	}
	return &endpoint{
		read: s.Read,
		newWriter: func() (func([]byte) error, func(), error) {
			w, err := mailslot.Open(name, mailslot.WithNamespace(Namespace))
			if err != nil {
				return nil, nil, err
			}
			w.SetWriteTimeout(WriteTimeout)
			return func(p []byte) error { _, err := w.Write(p); return err }, func() { w.Close() }, nil
		},
		close: func() { s.Close() },
	}, nil
}

// Kind selects what is measured.
type Kind string

const (
	Raw  Kind = "raw"  // plain Unix datagram socket
	Slot Kind = "slot" // local mailslot
)

func open(k Kind) (*endpoint, error) {
	if k == Raw {
		return rawEndpoint()
	}
	return slotEndpoint()
}

// Throughput sends n messages of size bytes from writers concurrent writers
// and returns messages per second as seen by the one reader.
func Throughput(k Kind, size, writers, n int) (float64, error) {
	ep, err := open(k)
	if err != nil {
		return 0, err
	}
	defer ep.close()
	msg := make([]byte, size)
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	// Open every writer first, so that opening is not measured and no
	// writer fills the slot while another is still opening.
	writes := make([]func([]byte) error, writers)
	for i := range writes {
		write, closeW, err := ep.newWriter()
		if err != nil {
			return 0, err
		}
		defer closeW()
		writes[i] = write
	}
	start := time.Now()
	for i, write := range writes {
		count := n / writers
		if i < n%writers {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < count; j++ {
				if err := write(msg); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	buf := make([]byte, size+1)
	for i := 0; i < n; i++ {
		if _, err := ep.read(buf); err != nil {
			return 0, err
		}
	}
	elapsed := time.Since(start)
	wg.Wait()
	select {
	case err := <-errc:
		return 0, err
	default:
	}
	return float64(n) / elapsed.Seconds(), nil
}

// PingPong bounces a 64-byte message n times between two endpoints and
// returns the round-trip times, sorted.
func PingPong(k Kind, n int) ([]time.Duration, error) {
	a, err := open(k)
	if err != nil {
		return nil, err
	}
	defer a.close()
	b, err := open(k)
	if err != nil {
		return nil, err
	}
	defer b.close()
	toA, closeA, err := a.newWriter()
	if err != nil {
		return nil, err
	}
	defer closeA()
	toB, closeB, err := b.newWriter()
	if err != nil {
		return nil, err
	}
	defer closeB()
	errc := make(chan error, 1)
	go func() { // the echo side
		buf := make([]byte, 128)
		for i := 0; i < n; i++ {
			m, err := b.read(buf)
			if err == nil {
				err = toA(buf[:m])
			}
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	msg, buf := make([]byte, 64), make([]byte, 128)
	rtts := make([]time.Duration, n)
	for i := range rtts {
		t0 := time.Now()
		if err := toB(msg); err != nil {
			return nil, err
		}
		if _, err := a.read(buf); err != nil {
			return nil, err
		}
		rtts[i] = time.Since(t0)
	}
	if err := <-errc; err != nil {
		return nil, err
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	return rtts, nil
}

// Percentile returns the p-th percentile (0..100) of sorted durations.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// IdleMemory creates count idle slots in this process and returns the
// growth of resident memory per slot, in bytes.
func IdleMemory(count int) (float64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	before, err := rss()
	if err != nil {
		return 0, err
	}
	slots := make([]*mailslot.Slot, 0, count)
	defer func() {
		for _, s := range slots {
			s.Close()
		}
	}()
	for i := 0; i < count; i++ {
		s, err := mailslot.Create(`\\.\mailslot\`+uniqueName("idle"), &mailslot.Config{Namespace: Namespace})
		if err != nil {
			return 0, fmt.Errorf("slot %d: %w", i, err)
		}
		slots = append(slots, s)
	}
	time.Sleep(50 * time.Millisecond) // let every drainer park
	runtime.GC()
	debug.FreeOSMemory()
	after, err := rss()
	if err != nil {
		return 0, err
	}
	runtime.KeepAlive(slots)
	return float64(after-before) / float64(count), nil
}

// rss reads this process's resident set size in bytes.
func rss() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

// AttackResult compares an admitted writer's throughput and the reader's CPU
// use with and without an attack, in one run.
type AttackResult struct {
	Mode     string
	Baseline float64 // msg/s, no attacker
	Control  float64 // msg/s, the attacker's loop aimed at nothing bound
	Attacked float64 // msg/s, the attacker aimed at the slots
	// IdleCPU is the share of one CPU the slot's process spends while the
	// attacker floods an idle slot (no writer), over one second.
	IdleCPU float64
}

// Median returns the median of v.
func Median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}
