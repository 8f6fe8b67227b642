package natslink

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/agent"
)

// The benchmarks run the raw NATS baseline and the mailslot path through
// the same embedded server in the same run, and report both and their
// ratio. Agents are on separate memnet subnets, so every write crosses
// through NATS.

const benchPayload = 64

// benchSite links H0 on subnet s1 and H1... on s2.
func benchSite(b *testing.B, agents int) (*site, []*agent.Agent) {
	s := newSite(b, true) // over TCP, as between hosts
	// Slow enough that a loaded machine does not expire entries between
	// two announcements of 100 agents.
	s.announce = 5 * time.Second
	// The benchmarks measure what the link can carry, not the per-sender
	// limit on what it accepts (DefaultRateIn, a policy): the limiter
	// runs, and costs what it costs, but never refuses.
	s.rateIn = 1e9
	var as []*agent.Agent
	for i := range agents {
		seg := "s2"
		if i == 0 {
			seg = "s1"
		}
		as = append(as, s.add(fmt.Sprintf("H%d", i), seg, byte(11+i)))
	}
	s.converge()
	return s, as
}

// window is how many messages may be in flight in the throughput runs.
const window = 512

// rawThroughput publishes n messages from one connection to another
// through the server, at most window in flight; it returns messages/s.
func rawThroughput(b *testing.B, s *site, n int) float64 {
	pub, sub := s.client(b), s.client(b)
	var got atomic.Int64
	done := make(chan struct{}, 1)
	subscription, err := sub.Subscribe("bench.raw", func(*nats.Msg) {
		if got.Add(1) == int64(n) {
			done <- struct{}{}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer subscription.Unsubscribe()
	sub.Flush()
	data := make([]byte, benchPayload)
	start := time.Now()
	for i := range n {
		for int64(i)-got.Load() >= window {
			time.Sleep(10 * time.Microsecond)
		}
		pub.Publish("bench.raw", data)
	}
	pub.Flush()
	waitDone(b, done)
	return float64(n) / time.Since(start).Seconds()
}

func waitDone(b *testing.B, done chan struct{}) {
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatal("messages lost")
	}
}

// mailslotThroughput writes n messages from agent a to slot "bench" of
// host B through the link, at most window in flight.
func mailslotThroughput(b *testing.B, a *agent.Agent, sub *agent.Subscription, n int) float64 {
	t, err := a.Open(context.Background(), "H1", "bench")
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	done := make(chan struct{}, 1)
	go func() {
		for range sub.C {
			if got.Add(1) == int64(n) {
				done <- struct{}{}
				return
			}
		}
	}()
	data := make([]byte, benchPayload)
	start := time.Now()
	for i := range n {
		for int64(i)-got.Load() >= window {
			time.Sleep(10 * time.Microsecond)
		}
		if err := a.Write(t, data); err != nil {
			b.Fatal(err)
		}
	}
	waitDone(b, done)
	return float64(n) / time.Since(start).Seconds()
}

func BenchmarkRemoteWriteThroughput(b *testing.B) {
	s, as := benchSite(b, 2)
	sub := subscribe(b, as[1], "bench")
	l := s.links["H0"]
	b.ResetTimer()
	raw := rawThroughput(b, s, b.N)
	p0, e0 := l.M.Published.Load(), l.M.Envelopes.Load()
	ms := mailslotThroughput(b, as[0], sub, b.N)
	b.StopTimer()
	b.ReportMetric(raw, "raw-msgs/s")
	b.ReportMetric(ms, "mailslot-msgs/s")
	b.ReportMetric(ms/raw, "ratio")
	// How many writes an envelope carried on average: batching at work.
	b.ReportMetric(float64(l.M.Published.Load()-p0)/float64(max(1, l.M.Envelopes.Load()-e0)), "writes/envelope")
}

// p50 of one message at a time: publish, wait for it at the receiver.
func BenchmarkRemoteWriteLatency(b *testing.B) {
	s, as := benchSite(b, 2)
	sub := subscribe(b, as[1], "lat")
	pub, rsub := s.client(b), s.client(b)
	ch := make(chan *nats.Msg, 1)
	if _, err := rsub.ChanSubscribe("bench.lat", ch); err != nil {
		b.Fatal(err)
	}
	rsub.Flush()
	t, err := as[0].Open(context.Background(), "H1", "lat")
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, benchPayload)
	raw, ms := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		pub.Publish("bench.lat", data)
		<-ch
		raw = append(raw, time.Since(start))
		start = time.Now()
		if err := as[0].Write(t, data); err != nil {
			b.Fatal(err)
		}
		<-sub.C
		ms = append(ms, time.Since(start))
	}
	b.StopTimer()
	r, m := median(raw), median(ms)
	b.ReportMetric(float64(r)/float64(time.Microsecond), "raw-p50-µs")
	b.ReportMetric(float64(m)/float64(time.Microsecond), "mailslot-p50-µs")
	b.ReportMetric(float64(r)/float64(m), "ratio")
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// One broadcast from H0 (subnet 1) to n agents on subnet 2, against one
// raw publication to n subscriptions.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			s, as := benchSite(b, n+1)
			var got atomic.Int64
			all := make(chan struct{}, 1)
			count := func() {
				if got.Add(1)%int64(n) == 0 {
					all <- struct{}{}
				}
			}
			for _, a := range as[1:] {
				sub := subscribe(b, a, "fan")
				go func() {
					for range sub.C {
						count()
					}
				}()
			}
			for range n {
				c := s.client(b)
				if _, err := c.Subscribe("bench.fan", func(*nats.Msg) { count() }); err != nil {
					b.Fatal(err)
				}
				c.Flush()
			}
			pub := s.client(b)
			data := make([]byte, benchPayload)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				pub.Publish("bench.fan", data)
				waitDone(b, all)
			}
			rawD := time.Since(start)
			start = time.Now()
			for range b.N {
				if err := as[0].Send(context.Background(), "*", "fan", data); err != nil {
					b.Fatal(err)
				}
				waitDone(b, all)
			}
			msD := time.Since(start)
			b.StopTimer()
			per := float64(n * b.N)
			b.ReportMetric(float64(rawD.Nanoseconds())/per, "raw-ns/delivery")
			b.ReportMetric(float64(msD.Nanoseconds())/per, "mailslot-ns/delivery")
			b.ReportMetric(float64(rawD)/float64(msD), "ratio")
		})
	}
}
