// Package netnstest builds throwaway network labs for tests: a few Linux
// network namespaces ("hosts") joined by a bridge that lives in a namespace of
// its own, so nothing touches the networking of the namespace the tests run
// in. Addresses come from 192.0.2.0/24 (TEST-NET-1) only.
//
// A Lab starts processes inside its hosts (ip netns exec), keeps their output,
// and on cleanup kills them and deletes every namespace it made, also when the
// test fails or panics. Namespaces left by earlier runs that died (SIGKILL,
// power loss) carry the pid of their run in their name and are swept by the
// next New.
//
// The package needs root and iproute2; without them New fails the test. It
// never skips: CI runs as root, and a skipped interop test proves nothing.
package netnstest
