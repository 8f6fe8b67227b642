// Package privdrop switches a root process to an unprivileged user while
// one OS thread, the keeper, keeps the few capabilities that binding a
// new interface's sockets needs (CAP_NET_BIND_SERVICE for UDP 137/138).
//
// Capabilities are per thread on Linux, and Go programs run on many
// threads. syscall.Setuid switches them all, but a capability set cannot
// be kept the same way in a binary that links cgo (the race detector, the
// default build with a C compiler present): syscall.AllThreadsSyscall then
// returns ENOTSUP. So the capabilities are kept on purpose on one thread
// only: a goroutine locked to its thread for its whole life, which runs
// only the functions handed to Keeper.Do. Every other thread ends with no
// capability at all, and the Go runtime never clones a new thread from a
// locked one (it uses its template thread instead), so nothing inherits
// the keeper's set.
//
// Only Linux is supported; elsewhere New fails.
package privdrop
