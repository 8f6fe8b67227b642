package mailslot

import (
	"fmt"
	"log"
	"net/netip"
	"os"
	"time"

	"github.com/mailslot/mailslot/internal/msgq"
)

// NamespaceEnv names the environment variable that selects an isolated
// mailslot namespace (for tests, or several instances on one machine): the
// default of Config.Namespace and WithNamespace. Slots created in one
// namespace are invisible from another. Empty means the system namespace.
const NamespaceEnv = "MAILSLOT_NAMESPACE"

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
// on top of its buffer: the message's bookkeeping (its struct and its queue
// slot), so that empty messages cannot grow memory unbounded. See MessageCost.
const MessageOverhead = msgq.Overhead

// MessageCost is what a message of n bytes is charged against Config.Quota:
// the memory the slot really holds for it, i.e. its buffer (n rounded up to
// a power of two, at least 64) plus MessageOverhead.
func MessageCost(n int) int { return msgq.Cost(n) }

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
	// Quota bounds the memory of queued messages: the sum of MessageCost
	// over them never exceeds it. 0 means DefaultQuota. It is raised if
	// needed so that one message of the maximum size fits.
	Quota int
	// AllowAnyone lets any local user write.
	AllowAnyone bool
	// AllowGroups lists group IDs whose members (primary or supplementary,
	// as the kernel reports them when the writer opens the slot) may write,
	// in addition to the creating user and root.
	AllowGroups []int
	// Namespace selects an isolated set of mailslots; "" means the value
	// of the environment variable NamespaceEnv when Create is called.
	Namespace string
	// AllowRemote accepts messages that the network agent delivers from
	// other machines (\\THISHOST\mailslot\... and broadcasts).
	AllowRemote bool
	// RemoteNetworks limits remote senders to these networks; empty means
	// any source the agent accepts. Only used with AllowRemote.
	RemoteNetworks []netip.Prefix
	// ErrorLog receives the slot's rare log lines (a flood of refused
	// connections, at most one line per interval). nil means the log
	// package's standard logger.
	ErrorLog *log.Logger
}

// Info describes a slot's state, as GetMailslotInfo does.
type Info struct {
	MaxMessageSize int           // as configured; 0 = any size
	NextSize       int           // size of the head message, or NoMessage
	MessageCount   int           // queued messages, empty ones included
	ReadTimeout    time.Duration // current read timeout (WaitForever = block)
}

// Sender identifies who wrote a message, or who reads a slot
// (Writer.Owner). For local processes the kernel reports the IDs (on Linux
// the effective uid and gid, and the pid, of the process when it opened the
// connection); -1 means not known. Remote messages, delivered by the network
// agent, set Remote, Host (the sender's NetBIOS name) and Addr (its IP
// address and UDP port), and PID, UID and GID are -1.
type Sender struct {
	PID, UID, GID int
	Remote        bool
	Host          string
	Addr          netip.AddrPort
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
	namespace      string
	allowRemote    bool
	remoteNetworks []netip.Prefix
	logger         *log.Logger
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
		namespace:      c.Namespace,
		allowRemote:    c.AllowRemote,
		remoteNetworks: append([]netip.Prefix(nil), c.RemoteNetworks...),
		logger:         c.ErrorLog,
	}
	if s.logger == nil {
		s.logger = log.Default()
	}
	if s.namespace == "" {
		s.namespace = os.Getenv(NamespaceEnv)
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
	if need := MessageCost(s.limit()); s.quota < need {
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
	// Name is the name the slot claims, set only when it is verified: the
	// slot's address is the hash of that name. Otherwise Err says why.
	Name Name
	// PID, UID and GID identify the reading process as the kernel reports
	// it (never as the slot claims); -1 when unknown.
	PID, UID, GID int
	Admitted      bool // the caller may write to it
	Info          Info // valid only when Admitted (a slot tells others nothing more)
	Err           error
}
