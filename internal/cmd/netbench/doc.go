// Command netbench measures network mailslots between Linux network
// namespaces, each figure next to a raw UDP baseline taken in the same run
// over the same veth pair. It needs root. Run it with
//
//	make bench-net
//
// or go run ./internal/cmd/netbench [-mailslot bin/mailslot] [-json].
//
// It builds a lab of four hosts (internal/netnstest), runs `mailslot agent`
// in each, and runs every measurement side as its own process inside a host
// (netbench -role NAME ...), then prints the figures that
// docs/performance.md reports.
package main
