// Package mailslot implements Windows-style mailslots: named, one-way,
// message-oriented mailboxes. One process creates `\\.\mailslot\[path\]name`
// with Create and is its only reader; any number of writers Open it and send
// whole messages, which queue in FIFO order.
//
// The API follows Win32 semantics (exact Info counts, zero-length messages,
// a short read that keeps the message, read timeouts; see docs/semantics.md)
// and Go's net conventions: *OpError with Unwrap, deadlines that match
// os.ErrDeadlineExceeded, net.ErrClosed after Close, functional options on
// Open. Every error carries a Win32 code (Code; constants in package winerr).
//
// On Linux a slot admits writers from the kernel's credentials when they
// connect, and both sides learn the other's kernel-verified identity:
// Message.Sender for the reader, Writer.Owner (and WithOwner, against names
// squatted by another user) for writers. Config.Quota bounds the memory a
// slot holds, and a Write fails only when the quota cannot take its message
// before the write's own timeout. Other platforms without a backend return
// ErrNotSupported.
package mailslot
