package mailslot

import (
	"fmt"
	"time"
)

// WaitForever is the read timeout that blocks until a message arrives
// (MAILSLOT_WAIT_FOREVER).
const WaitForever time.Duration = -1

// NoMessage is Info.NextSize when the queue is empty (MAILSLOT_NO_MESSAGE).
const NoMessage = -1

// MaxLocalMessageSize is the largest message a local slot accepts (64 KiB).
const MaxLocalMessageSize = 64 << 10

// DefaultQuota is the default Config.Quota: the bytes a slot may hold queued.
const DefaultQuota = 1 << 20

// MessageOverhead is what each queued message is charged against the quota
// on top of its length, so that empty messages cannot grow memory unbounded.
const MessageOverhead = 64

// DefaultWriteTimeout bounds how long Writer.Write waits for room in a full
// slot before it fails with ErrSlotFull. See Writer.SetWriteTimeout.
const DefaultWriteTimeout = 100 * time.Millisecond

// Config holds the options of Create. The zero value (or a nil *Config) is
// valid: any message size up to MaxLocalMessageSize, reads return at once
// when empty, DefaultQuota, only the creating user and root may write.
type Config struct {
	// MaxMessageSize is the largest message the slot accepts; 0 means any
	// size up to MaxLocalMessageSize.
	MaxMessageSize int
	// ReadTimeout applies to every read: 0 returns at once when the slot is
	// empty, WaitForever blocks, anything else waits that long.
	ReadTimeout time.Duration
	// Quota bounds queued memory: the sum of len(message)+MessageOverhead
	// over queued messages. 0 means DefaultQuota. It is raised if needed so
	// that one message of the maximum size fits.
	Quota int
	// AllowAnyone lets any local user write.
	AllowAnyone bool
	// AllowGroups lists group IDs whose members (primary or supplementary)
	// may write, in addition to the creating user and root.
	AllowGroups []int
}

// Info describes a slot's state, as GetMailslotInfo does.
type Info struct {
	MaxMessageSize int           // as configured; 0 = any size
	NextSize       int           // size of the head message, or NoMessage
	MessageCount   int           // queued messages, empty ones included
	ReadTimeout    time.Duration // current read timeout (WaitForever = block)
}

// Sender identifies who wrote a message. For local writers the kernel
// verifies the IDs; -1 means not known on this platform.
type Sender struct {
	PID, UID, GID int
}

// Message is one message with its metadata, as returned by ReadMessage.
type Message struct {
	Data   []byte
	Time   time.Time // when the slot queued it
	Sender Sender
}

// settings is a validated Config.
type settings struct {
	maxMessageSize int // 0 = any
	readTimeout    time.Duration
	quota          int
	allowAnyone    bool
	allowGroups    []int
}

func (c *Config) settings() (settings, error) {
	if c == nil {
		c = &Config{}
	}
	s := settings{
		maxMessageSize: c.MaxMessageSize,
		readTimeout:    normTimeout(c.ReadTimeout),
		quota:          c.Quota,
		allowAnyone:    c.AllowAnyone,
		allowGroups:    append([]int(nil), c.AllowGroups...),
	}
	if s.maxMessageSize < 0 || s.maxMessageSize > MaxLocalMessageSize {
		return s, fmt.Errorf("%w: MaxMessageSize %d outside 0..%d", ErrInvalidParameter, c.MaxMessageSize, MaxLocalMessageSize)
	}
	if s.quota < 0 {
		return s, fmt.Errorf("%w: negative Quota", ErrInvalidParameter)
	}
	if s.quota == 0 {
		s.quota = DefaultQuota
	}
	if need := s.limit() + MessageOverhead; s.quota < need {
		s.quota = need
	}
	for _, g := range s.allowGroups {
		if g < 0 {
			return s, fmt.Errorf("%w: negative group ID %d", ErrInvalidParameter, g)
		}
	}
	return s, nil
}

// limit is the effective largest message.
func (s *settings) limit() int {
	if s.maxMessageSize == 0 {
		return MaxLocalMessageSize
	}
	return s.maxMessageSize
}

// normTimeout maps every negative duration to WaitForever.
func normTimeout(d time.Duration) time.Duration {
	if d < 0 {
		return WaitForever
	}
	return d
}

// SlotStatus describes a live local mailslot, as returned by List.
type SlotStatus struct {
	Name     Name
	PID, UID int  // the reading process and its user
	Admitted bool // the caller may write to it
	Info     Info
	Err      error // set when the slot did not answer; the other fields are then unknown
}
