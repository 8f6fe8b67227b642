package natslink

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/mailslot/mailslot/agent"
)

// Metrics are the link's counters, exported by WritePrometheus as
// mailslot_agent_nats_<name>_total.
type Metrics struct {
	Published     atomic.Uint64 `metric:"published" help:"writes published to NATS"`
	Envelopes     atomic.Uint64 `metric:"envelopes" help:"NATS messages published, each an envelope of one or more writes"`
	PublishFailed atomic.Uint64 `metric:"publish_failed" help:"publications refused by the client (link down)"`
	QueueFull     atomic.Uint64 `metric:"queue_full" help:"publications dropped because the outgoing queue was full"`
	Received      atomic.Uint64 `metric:"received" help:"writes received from NATS"`
	Duplicates    atomic.Uint64 `metric:"duplicates" help:"writes already delivered here (dedup window)"`
	Malformed     atomic.Uint64 `metric:"malformed" help:"messages from NATS that did not decode"`
	RateLimited   atomic.Uint64 `metric:"rate_limited" help:"writes from NATS over the per-sender rate limit"`
	Oversize      atomic.Uint64 `metric:"oversize" help:"writes from NATS over the mailslot size limit"`
	Bridged       atomic.Uint64 `metric:"bridged" help:"LAN writes of hosts without an agent published as their subnet's gateway"`
	Relayed       atomic.Uint64 `metric:"relayed" help:"writes from NATS sent to a host without an agent on our LAN"`
	Rebroadcast   atomic.Uint64 `metric:"rebroadcast" help:"writes from NATS rebroadcast on a LAN as its gateway"`
	Forwarded     atomic.Uint64 `metric:"forwarded" help:"unique LAN datagrams for an agent host of another subnet (replies to a rebroadcast) forwarded to it"`
	SlowConsumer  atomic.Uint64 `metric:"slow_consumer" help:"times the client dropped messages because the agent fell behind"`
	DirectoryFull atomic.Uint64 `metric:"directory_full" help:"announcements ignored because the directory was full"`
	Disconnects   atomic.Uint64 `metric:"disconnects" help:"times the NATS connection was lost"`
	Reconnects    atomic.Uint64 `metric:"reconnects" help:"times the NATS connection came back"`
}

// WritePrometheus implements agent.Link.
func (l *Link) WritePrometheus(w io.Writer) {
	agent.WriteCounters(w, "mailslot_agent_nats_", &l.M)
	up := 0
	if l.Connected() {
		up = 1
	}
	fmt.Fprintf(w, "# TYPE mailslot_agent_nats_connected gauge\nmailslot_agent_nats_connected %d\n", up)
	fmt.Fprintf(w, "# TYPE mailslot_agent_nats_agents gauge\nmailslot_agent_nats_agents %d\n", l.dir.len())
	settled := 0
	if l.settled() {
		settled = 1
	}
	// 1 once the link has been up for Settle: it may act as a gateway.
	fmt.Fprintf(w, "# TYPE mailslot_agent_nats_settled gauge\nmailslot_agent_nats_settled %d\n", settled)
}
