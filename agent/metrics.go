package agent

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sync/atomic"
)

// Metrics are the agent's counters. Each is exported in the Prometheus text
// format by MetricsHandler as mailslot_agent_<name>_total.
type Metrics struct {
	NamePackets     atomic.Uint64 `metric:"name_packets" help:"packets received on UDP 137"`
	DatagramPackets atomic.Uint64 `metric:"datagram_packets" help:"packets received on UDP 138"`
	Received        atomic.Uint64 `metric:"received" help:"mailslot writes accepted from the network"`
	Delivered       atomic.Uint64 `metric:"delivered" help:"writes queued to at least one local slot"`
	DeliveredDirect atomic.Uint64 `metric:"delivered_direct" help:"deliveries written to a slot's socket by the receive path itself, without the delivery queue"`
	Sent            atomic.Uint64 `metric:"sent" help:"writes sent for local programs"`
	RateLimitedIn   atomic.Uint64 `metric:"rate_limited_in" help:"packets dropped by the per-source rate limit"`
	Malformed       atomic.Uint64 `metric:"malformed" help:"datagrams that did not decode"`
	Fragments       atomic.Uint64 `metric:"fragments" help:"fragmented datagrams dropped"`
	NotOurs         atomic.Uint64 `metric:"not_ours" help:"datagrams for names we do not own"`
	OwnDropped      atomic.Uint64 `metric:"own_dropped" help:"our own broadcasts looped back"`
	Duplicates      atomic.Uint64 `metric:"duplicates" help:"copies of a datagram already received on another interface"`
	Refused         atomic.Uint64 `metric:"refused" help:"datagrams from a source network not allowed"`
	NoSlot          atomic.Uint64 `metric:"no_slot" help:"writes for a mailslot no local slot accepts from the network"`
	QueueFull       atomic.Uint64 `metric:"queue_full" help:"writes dropped because a slot's delivery queue was full"`
	DatagramErrors  atomic.Uint64 `metric:"datagram_errors" help:"DATAGRAM ERROR packets received"`
	ErrorsSent      atomic.Uint64 `metric:"errors_sent" help:"DATAGRAM ERROR packets sent"`
	ResolveFailures atomic.Uint64 `metric:"resolve_failures" help:"remote opens whose host name did not resolve"`
	DeniedSenders   atomic.Uint64 `metric:"denied_senders" help:"local users refused by the send policy"`
	Oversize        atomic.Uint64 `metric:"oversize" help:"local writes over the target's size limit"`
}

// Snapshot returns the counters by metric name.
func (m *Metrics) Snapshot() map[string]uint64 {
	out := map[string]uint64{}
	v := reflect.ValueOf(m).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		out[t.Field(i).Tag.Get("metric")] = v.Field(i).Addr().Interface().(*atomic.Uint64).Load()
	}
	return out
}

// WritePrometheus writes the counters in the Prometheus text format.
func (a *Agent) WritePrometheus(w io.Writer) {
	WriteCounters(w, "mailslot_agent_", &a.M)
	c := &a.ns.C
	for _, m := range []struct {
		name string
		v    *atomic.Uint64
	}{{"names_malformed", &c.Malformed}, {"names_unexpected", &c.Unexpected}, {"names_queries", &c.Queries},
		{"names_answers", &c.Answers}, {"names_status_answers", &c.StatusAnswers}, {"names_defended", &c.Defended},
		{"names_conflicts", &c.Conflicts}} {
		name := "mailslot_agent_" + m.name + "_total"
		fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", name, name, m.v.Load())
	}
	fmt.Fprintf(w, "# TYPE mailslot_agent_cache_entries gauge\nmailslot_agent_cache_entries %d\n", a.ns.CacheLen())
	a.writeSambaMetrics(w)
	if a.link != nil {
		a.link.WritePrometheus(w)
	}
}

// MetricsHandler serves the counters at any path.
func (a *Agent) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		a.WritePrometheus(w)
	})
}
