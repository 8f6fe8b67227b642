//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

type report struct {
	When     string `json:"when"`
	System   string `json:"system"`
	Messages int    `json:"messages_per_run"`
	// DefaultLimits: the agents kept their default rate limits.
	DefaultLimits bool `json:"default_limits"`

	Throughput []throughput `json:"throughput"`
	RoundTrip  roundTrip    `json:"round_trip"`
	Fanout     fanout       `json:"fanout"`
	CPU        cpu          `json:"agent_cpu"`
	Memory     memory       `json:"agent_memory"`
}

// throughput compares remote writes with raw UDP for one payload size.
type throughput struct {
	Size      int     `json:"size"`
	RawRate   float64 `json:"raw_msgs_per_s"` // unpaced, as received
	AgentRate float64 `json:"agent_msgs_per_s"`
	Ratio     float64 `json:"ratio"`
	RawLoss   int     `json:"raw_loss"` // of the unpaced runs
	AgentLoss int     `json:"agent_loss"`
	// FirstRawRate is the highest tried rate raw UDP carried with no loss,
	// FirstRawAgentLoss the agent path's loss at that rate.
	FirstRawRate      float64 `json:"first_raw_zero_loss_rate"`
	FirstRawAgentLoss int     `json:"agent_loss_at_first_raw_rate"`
	// PacedRate is the highest tried rate both paths carried with no loss.
	PacedRate  float64 `json:"zero_loss_rate"`
	PacedRaw   int     `json:"paced_raw_loss"`
	PacedAgent int     `json:"paced_agent_loss"`
	// AgentLossWhere says where the unpaced agent run lost messages on the
	// receiving host: kernel receive-buffer drops and agent counters.
	AgentLossWhere map[string]float64 `json:"agent_loss_where"`
	// PacedAgentRate is the rate the agent path delivered in the paced run:
	// below PacedRate when writers were slowed by back-pressure.
	PacedAgentRate float64 `json:"paced_agent_msgs_per_s"`
}

type roundTrip struct {
	Raw   pingResult `json:"raw"`
	Agent pingResult `json:"agent"`
	Ratio float64    `json:"p50_ratio"`
}

type fanout struct {
	Rate  float64      `json:"rate"`
	Raw   []recvResult `json:"raw"`
	Agent []recvResult `json:"agent"`
}

type cpu struct {
	SenderMs   float64 `json:"sender_ms_per_10k"`
	ReceiverMs float64 `json:"receiver_ms_per_10k"`
}

type memory struct {
	IdleKiB        int     `json:"idle_rss_kib"`
	FloodPeakKiB   int     `json:"flood_peak_rss_kib"`
	AfterKiB       int     `json:"after_flood_rss_kib"`
	FloodSent      int     `json:"flood_sent"`
	FloodSeconds   float64 `json:"flood_seconds"`
	ValidSent      int     `json:"valid_sent"`
	ValidDelivered int     `json:"valid_delivered"`
	Alive          bool    `json:"alive"`
}

// Rates tried (messages per second), highest first, to find one the raw
// path carries with no loss.
var rates = []float64{400000, 200000, 100000, 50000, 20000, 10000, 5000, 2000}

func (b *bench) measure(rep *report, cfg config) {
	n := cfg.n
	alpha, bravo := b.hosts[0], b.hosts[1]
	rep.Memory.IdleKiB, _ = rssKiB(b.agents[1].Pid())
	for _, size := range []int{64, 400} {
		b.r.Logf("throughput, %d-byte messages", size)
		rep.Throughput = append(rep.Throughput, b.throughput(size, n, cfg.rates, &rep.CPU))
	}

	// Round trip: a message answered by a message.
	b.r.Logf("round trip")
	echo := b.start(bravo, "udp-echo", "-listen", bravo.Addr.String()+":9200")
	b.call(alpha, &rep.RoundTrip.Raw, "udp-ping", "-to", bravo.Addr.String()+":9200", "-count", strconv.Itoa(cfg.pings))
	echo.Stop(time.Second)
	echo = b.start(bravo, "slot-echo", "-slot", `\\.\mailslot\bench\ping`, "-reply", `\\ALPHA\mailslot\bench\pong`)
	b.call(alpha, &rep.RoundTrip.Agent, "slot-ping", "-slot", `\\.\mailslot\bench\pong`, "-to", `\\BRAVO\mailslot\bench\ping`, "-count", strconv.Itoa(cfg.pings))
	echo.Stop(time.Second)
	if rep.RoundTrip.Raw.P50 > 0 {
		rep.RoundTrip.Ratio = rep.RoundTrip.Agent.P50 / rep.RoundTrip.Raw.P50
	}

	b.r.Logf("broadcast fan-out")
	b.fanout(rep, n)
	b.r.Logf("garbage flood")
	b.flood(rep, cfg.flood)
}

// throughput measures one payload size: unpaced raw and agent runs (the
// rate each delivers), then both at the highest rate raw UDP carries with
// no loss.
func (b *bench) throughput(size, n int, rates []float64, c *cpu) throughput {
	alpha, bravo := b.hosts[0], b.hosts[1]
	t := throughput{Size: size}
	raw := func(rate float64) recvResult {
		recv := b.start(bravo, "udp-recv", "-listen", bravo.Addr.String()+":9100", "-count", strconv.Itoa(n))
		var s sendResult
		b.call(alpha, &s, "udp-send", "-to", bravo.Addr.String()+":9100", "-size", strconv.Itoa(size), "-count", strconv.Itoa(n), "-rate", fmt.Sprint(rate))
		var rr recvResult
		b.result(recv, &rr)
		return rr
	}
	agent := func(rate float64) recvResult {
		recv := b.start(bravo, "slot-recv", "-slot", `\\.\mailslot\bench\tput`, "-count", strconv.Itoa(n))
		var s sendResult
		b.call(alpha, &s, "slot-send", "-to", `\\BRAVO\mailslot\bench\tput`, "-size", strconv.Itoa(size), "-count", strconv.Itoa(n), "-rate", fmt.Sprint(rate))
		var rr recvResult
		b.result(recv, &rr)
		return rr
	}
	// Unpaced runs, raw and agent alternately, three times: the medians
	// are reported (a shared machine makes single runs noisy). Loss counts
	// are summed over the three.
	var rawRates, agentRates []float64
	var ticksSend, ticksRecv int64
	received := 0
	t.AgentLossWhere = map[string]float64{}
	for i := 0; i < 3; i++ {
		rr := raw(0)
		rawRates = append(rawRates, perSecond(rr))
		t.RawLoss += n - rr.Received
		s0, r0 := cpuTicks(b.agents[0].Pid()), cpuTicks(b.agents[1].Pid())
		before := b.dropCounters(bravo)
		ar := agent(0)
		s1, r1 := cpuTicks(b.agents[0].Pid()), cpuTicks(b.agents[1].Pid())
		for k, v := range b.dropCounters(bravo) {
			if d := v - before[k]; d > 0 {
				t.AgentLossWhere[k] += d
			}
		}
		agentRates = append(agentRates, perSecond(ar))
		t.AgentLoss += n - ar.Received
		ticksSend, ticksRecv, received = ticksSend+s1-s0, ticksRecv+r1-r0, received+ar.Received
	}
	t.RawRate, t.AgentRate = median(rawRates), median(agentRates)
	if t.RawRate > 0 {
		t.Ratio = t.AgentRate / t.RawRate
	}
	if size == 64 {
		c.SenderMs = ticksMs(ticksSend) / (float64(3*n) / 10000)
		if received > 0 {
			c.ReceiverMs = ticksMs(ticksRecv) / (float64(received) / 10000)
		}
	}
	// The highest tried rate both paths carry with no loss (the agent's
	// is the lower); at the first rate raw UDP carries without loss, the
	// agent's loss is reported too.
	for _, rate := range rates {
		rr := raw(rate)
		if rr.Received != n {
			continue
		}
		ar := agent(rate)
		if t.FirstRawRate == 0 {
			t.FirstRawRate, t.FirstRawAgentLoss = rate, n-ar.Received
		}
		if ar.Received == n {
			t.PacedRate, t.PacedRaw, t.PacedAgent, t.PacedAgentRate = rate, n-rr.Received, n-ar.Received, perSecond(ar)
			break
		}
	}
	return t
}

// fanout broadcasts 64-byte messages from alpha to the three other hosts,
// raw (UDP to the subnet broadcast address) and as \\*\mailslot\bench\fan,
// at the zero-loss rate of the 64-byte run (or 5000/s).
func (b *bench) fanout(rep *report, n int) {
	rate := 5000.0
	if len(rep.Throughput) > 0 && rep.Throughput[0].PacedRate > 0 {
		rate = rep.Throughput[0].PacedRate
	}
	rep.Fanout.Rate = rate
	alpha, rcv := b.hosts[0], b.hosts[1:]
	collect := func(role string, recvArgs []string, sendRole string, sendArgs []string) []recvResult {
		var ps []*netnstest.Proc
		for _, h := range rcv {
			ps = append(ps, b.start(h, role, recvArgs...))
		}
		var s sendResult
		b.call(alpha, &s, sendRole, sendArgs...)
		out := make([]recvResult, len(ps))
		for i, p := range ps {
			b.result(p, &out[i])
		}
		return out
	}
	cnt, rt := strconv.Itoa(n), fmt.Sprint(rate)
	rep.Fanout.Raw = collect("udp-recv", []string{"-listen", "0.0.0.0:9300", "-count", cnt},
		"udp-send", []string{"-to", alpha.Broadcast.String() + ":9300", "-count", cnt, "-rate", rt})
	rep.Fanout.Agent = collect("slot-recv", []string{"-slot", `\\.\mailslot\bench\fan`, "-count", cnt},
		"slot-send", []string{"-to", `\\*\mailslot\bench\fan`, "-count", cnt, "-rate", rt})
}

// flood sends 100,000 garbage datagrams to bravo's 137 and 138 from
// charlie while alpha sends valid messages, and watches bravo's agent.
func (b *bench) flood(rep *report, garbage int) {
	alpha, bravo, charlie := b.hosts[0], b.hosts[1], b.hosts[2]
	pid := b.agents[1].Pid()
	const valid = 20
	recv := b.start(bravo, "slot-recv", "-slot", `\\.\mailslot\bench\valid`, "-count", strconv.Itoa(valid), "-idle", "3s", "-timeout", "60s")
	var mu sync.Mutex
	peak := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if kb, err := rssKiB(pid); err == nil {
				mu.Lock()
				peak = max(peak, kb)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	fl := b.start(charlie, "flood", "-to", bravo.Addr.String(), "-count", strconv.Itoa(garbage))
	var s sendResult
	b.call(alpha, &s, "slot-send", "-to", `\\BRAVO\mailslot\bench\valid`, "-count", strconv.Itoa(valid), "-rate", "40")
	var fr sendResult
	b.result(fl, &fr)
	close(stop)
	wg.Wait()
	var rr recvResult
	b.result(recv, &rr)
	rep.Memory.FloodPeakKiB = peak
	rep.Memory.FloodSent, rep.Memory.FloodSeconds = fr.Sent, fr.Seconds
	rep.Memory.ValidSent, rep.Memory.ValidDelivered = s.Sent, rr.Received
	rep.Memory.AfterKiB, _ = rssKiB(pid)
	ok, _ := b.agents[1].Exited()
	rep.Memory.Alive = !ok
}

// dropCounters reads what can lose a datagram on its way into a slot of h:
// the kernel's UDP receive-buffer drops and the agent's drop counters.
func (b *bench) dropCounters(h *netnstest.Host) map[string]float64 {
	out := map[string]float64{}
	if u, err := h.UDPStats(); err == nil {
		out["kernel_udp_rcvbuf_errors"] = float64(u["RcvbufErrors"])
	}
	if m, err := h.Metrics(metricsAddr); err == nil {
		for k, v := range m {
			if strings.Contains(k, "queue_full") || strings.Contains(k, "rate_limited") || strings.Contains(k, "no_slot") || strings.Contains(k, "malformed") {
				out[strings.TrimPrefix(strings.TrimSuffix(k, "_total"), "mailslot_agent_")] = v
			}
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func perSecond(r recvResult) float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Received) / r.Seconds
}

func cpuTicks(pid int) int64 {
	t, _ := netnstest.CPUTicks(pid)
	return t
}

// ticksMs converts clock ticks (USER_HZ, 100 on Linux) to milliseconds.
func ticksMs(t int64) float64 { return float64(t) * 10 }

func rssKiB(pid int) (int, error) { return netnstest.StatusKiB(pid, "VmRSS") }

func systemInfo() string {
	var kernel string
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, Linux %s, %d CPUs, %s", runtime.Version(), kernel, runtime.NumCPU(), cpuModel())
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			return strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
		}
	}
	return "unknown CPU"
}

func where(m map[string]float64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (r *report) print(w io.Writer) {
	limits := "rate limits lifted (--rate-in -1 --rate-out -1)"
	if r.DefaultLimits {
		limits = "default rate limits"
	}
	fmt.Fprintf(w, "netbench %s (%s), %d messages per run, %s\n\n", r.When, r.System, r.Messages, limits)
	fmt.Fprintf(w, "%-28s %12s %12s %7s %10s %10s\n", "remote write throughput", "raw msg/s", "agent msg/s", "ratio", "raw loss", "agent loss")
	for _, t := range r.Throughput {
		fmt.Fprintf(w, "%-28s %12.0f %12.0f %7.2f %10d %10d   %s\n", fmt.Sprintf("  %d B, unpaced (x3)", t.Size), t.RawRate, t.AgentRate, t.Ratio, t.RawLoss, t.AgentLoss, where(t.AgentLossWhere))
		if t.FirstRawRate != t.PacedRate {
			fmt.Fprintf(w, "%-28s %12s %12s %7s %10d %10d\n", fmt.Sprintf("  %d B paced at %.0f/s", t.Size, t.FirstRawRate), "", "", "", 0, t.FirstRawAgentLoss)
		}
		fmt.Fprintf(w, "%-28s %12s %12.0f %7s %10d %10d\n", fmt.Sprintf("  %d B paced at %.0f/s", t.Size, t.PacedRate), "", t.PacedAgentRate, "", t.PacedRaw, t.PacedAgent)
	}
	rt := r.RoundTrip
	fmt.Fprintf(w, "\nround trip (us)      p50 raw %.0f  agent %.0f  ratio %.2f   (p90 %.0f / %.0f, p99 %.0f / %.0f; n %d / %d)\n",
		rt.Raw.P50, rt.Agent.P50, rt.Ratio, rt.Raw.P90, rt.Agent.P90, rt.Raw.P99, rt.Agent.P99, rt.Raw.N, rt.Agent.N)
	fmt.Fprintf(w, "\nbroadcast fan-out to 3 hosts at %.0f/s, received of %d:\n", r.Fanout.Rate, r.Messages)
	for i := range r.Fanout.Raw {
		a := recvResult{}
		if i < len(r.Fanout.Agent) {
			a = r.Fanout.Agent[i]
		}
		fmt.Fprintf(w, "  host %d: raw %d (%.0f/s)  agent %d (%.0f/s)\n", i+1, r.Fanout.Raw[i].Received, perSecond(r.Fanout.Raw[i]), a.Received, perSecond(a))
	}
	fmt.Fprintf(w, "\nagent CPU per 10k 64-byte messages: sender %.0f ms, receiver %.0f ms\n", r.CPU.SenderMs, r.CPU.ReceiverMs)
	m := r.Memory
	fmt.Fprintf(w, "agent RSS: idle %d KiB, during a %d-datagram garbage flood (%.2f s) peak %d KiB, after %d KiB; alive %v; valid messages sent during the flood %d, delivered %d\n",
		m.IdleKiB, m.FloodSent, m.FloodSeconds, m.FloodPeakKiB, m.AfterKiB, m.Alive, m.ValidSent, m.ValidDelivered)
}
