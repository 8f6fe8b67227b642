//go:build !linux && !darwin

package mailslot

import (
	"context"
	"time"
)

// This platform has no mailslot backend yet (the native Windows backend is on
// the roadmap). Every operation fails with ErrNotSupported.

// NamespaceEnv names the environment variable that selects an isolated
// mailslot namespace.
const NamespaceEnv = "MAILSLOT_NAMESPACE"

// Slot is the server (reading) end of a local mailslot.
type Slot struct{ name Name }

// Writer is the client (writing) end of a mailslot.
type Writer struct{ name Name }

func unsupported(op, name string) error { return opErr(op, name, ErrNotSupported) }

// Create creates a local mailslot. Not supported on this platform.
func Create(name string, cfg *Config) (*Slot, error) { return nil, unsupported("create", name) }

// Open opens a mailslot for writing. Not supported on this platform.
func Open(name string) (*Writer, error) { return nil, unsupported("open", name) }

// Send writes one message. Not supported on this platform.
func Send(name string, p []byte) error { return unsupported("send", name) }

// List lists local mailslots. Not supported on this platform.
func List() ([]SlotStatus, error) { return nil, unsupported("list", "") }

func (s *Slot) Name() Name                 { return s.name }
func (s *Slot) Read(p []byte) (int, error) { return 0, unsupported("read", "") }
func (s *Slot) ReadMessage(context.Context) (Message, error) {
	return Message{}, unsupported("read", "")
}
func (s *Slot) Info() (Info, error)                { return Info{}, unsupported("info", "") }
func (s *Slot) SetReadTimeout(time.Duration) error { return unsupported("set timeout", "") }
func (s *Slot) SetReadDeadline(time.Time) error    { return unsupported("set deadline", "") }
func (s *Slot) Close() error                       { return unsupported("close", "") }

func (w *Writer) Name() Name                          { return w.name }
func (w *Writer) Write(p []byte) (int, error)         { return 0, unsupported("write", "") }
func (w *Writer) Info() (Info, error)                 { return Info{}, unsupported("info", "") }
func (w *Writer) SetWriteTimeout(time.Duration) error { return unsupported("set timeout", "") }
func (w *Writer) Close() error                        { return unsupported("close", "") }
