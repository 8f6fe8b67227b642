//go:build !linux

package mailslot

import (
	"context"
	"time"
)

// This platform has no local mailslot backend here (macOS's was retired: it
// could not give kernel-verified identities; the native Windows backend
// replaces this file on Windows). Every operation fails with ErrNotSupported.

// Slot is the server (reading) end of a local mailslot.
type Slot struct{ name Name }

func unsupported(op, name string) error { return opErr(op, name, ErrNotSupported) }

// Create creates a local mailslot. Not supported on this platform.
func Create(name string, cfg *Config) (*Slot, error) { return nil, unsupported("create", name) }

// List lists local mailslots. Not supported on this platform.
func List(opts ...OpenOption) ([]SlotStatus, error) { return nil, unsupported("list", "") }

func openLocal(context.Context, Name, *openOptions) (writerBackend, error) {
	return nil, ErrNotSupported
}

func openRemote(context.Context, Name, *openOptions) (writerBackend, error) {
	return nil, ErrNotSupported
}

func (s *Slot) Name() Name                 { return s.name }
func (s *Slot) Read(p []byte) (int, error) { return 0, unsupported("read", "") }
func (s *Slot) ReadMessage(context.Context) (Message, error) {
	return Message{}, unsupported("read", "")
}
func (s *Slot) Info() (Info, error)                { return Info{}, unsupported("info", "") }
func (s *Slot) SetReadTimeout(time.Duration) error { return unsupported("set timeout", "") }
func (s *Slot) SetReadDeadline(time.Time) error    { return unsupported("set deadline", "") }
func (s *Slot) Close() error                       { return unsupported("close", "") }
