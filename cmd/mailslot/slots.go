package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/internal/safetext"
)

// groupList collects --allow-group values (names or numbers).
type groupList []int

func (g *groupList) String() string { return fmt.Sprint([]int(*g)) }

func (g *groupList) Set(v string) error {
	if id, err := strconv.Atoi(v); err == nil {
		*g = append(*g, id)
		return nil
	}
	grp, err := user.LookupGroup(v)
	if err != nil {
		return fmt.Errorf("unknown group %q", v)
	}
	id, err := strconv.Atoi(grp.Gid)
	if err != nil {
		return err
	}
	*g = append(*g, id)
	return nil
}

// lookupUID accepts a user name or a numeric uid.
func lookupUID(v string) (int, error) {
	if id, err := strconv.Atoi(v); err == nil && id >= 0 {
		return id, nil
	}
	u, err := user.Lookup(v)
	if err != nil {
		return 0, fmt.Errorf("unknown user %q for --owner", v)
	}
	return strconv.Atoi(u.Uid)
}

// parseTimeout accepts a Go duration or "forever".
func parseTimeout(s string) (time.Duration, error) {
	if s == "forever" {
		return mailslot.WaitForever, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid --timeout %q (want a duration like 5s, or forever)", s)
	}
	return d, nil
}

func runListen(args []string, stdout, stderr io.Writer, _ io.Reader) error {
	fs := newFlags("listen", stderr)
	maxSize := fs.Int("max-size", 0, "largest message accepted in bytes (0 = any, up to 64 KiB)")
	timeout := fs.String("timeout", "forever", "how long to wait for each message: a duration, or forever")
	count := fs.Int("count", 0, "exit after this many messages (0 = run until SIGINT/SIGTERM)")
	asJSON := fs.Bool("json", false, "print one JSON object per message")
	anyone := fs.Bool("allow-anyone", false, "let any local user write")
	var groups groupList
	fs.Var(&groups, "allow-group", "let members of this group (name or gid) write; repeatable")
	remote := fs.Bool("allow-remote", false, "also take messages from other machines, delivered by the network agent")
	var remoteNets netList
	fs.Var(&remoteNets, "remote-net", "with --allow-remote, accept only senders in this network CIDR; repeatable")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one mailslot NAME, got %d arguments", len(pos))
	}
	if len(remoteNets) > 0 && !*remote {
		return usagef("--remote-net needs --allow-remote")
	}
	if _, err := mailslot.ParseName(pos[0]); err != nil {
		return usageError{err}
	}
	d, err := parseTimeout(*timeout)
	if err != nil {
		return usageError{err}
	}
	if *count < 0 {
		return usagef("--count must not be negative")
	}
	slot, err := mailslot.Create(pos[0], &mailslot.Config{MaxMessageSize: *maxSize, ReadTimeout: d,
		AllowAnyone: *anyone, AllowGroups: groups, AllowRemote: *remote, RemoteNetworks: remoteNets})
	if err != nil {
		return err
	}
	defer slot.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stderr, "listening on %s\n", safetext.Quote(slot.Name().String()))
	for n := 0; *count == 0 || n < *count; n++ {
		msg, err := slot.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: a normal way to stop
			}
			if errors.Is(err, mailslot.ErrTimeout) {
				return fmt.Errorf("%w (no message within %s)", err, *timeout)
			}
			return err
		}
		if *asJSON {
			err = printJSON(stdout, msg)
		} else {
			_, err = fmt.Fprintln(stdout, displayText(msg.Data))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type jsonMessage struct {
	Time   time.Time  `json:"time"`
	Size   int        `json:"size"`
	Data   string     `json:"data"`
	Text   *string    `json:"text,omitempty"`
	Sender jsonSender `json:"sender"`
}

// jsonSender is a local sender {"pid","uid","gid"} or, for messages the
// network agent delivered, a remote one {"name","ip","port"}.
type jsonSender struct {
	PID  int    `json:"pid"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
	Name string `json:"name,omitempty"`
	IP   string `json:"ip,omitempty"`
	Port int    `json:"port,omitempty"`
}

func newJSONSender(s mailslot.Sender) jsonSender {
	if !s.Remote {
		return jsonSender{PID: s.PID, UID: s.UID, GID: s.GID}
	}
	j := jsonSender{Name: s.Host, Port: int(s.Addr.Port())}
	if s.Addr.IsValid() {
		j.IP = s.Addr.Addr().String()
	}
	return j
}

func (s jsonSender) MarshalJSON() ([]byte, error) {
	if s.Name != "" || s.IP != "" {
		return json.Marshal(struct {
			Name string `json:"name"`
			IP   string `json:"ip"`
			Port int    `json:"port"`
		}{s.Name, s.IP, s.Port})
	}
	return json.Marshal(struct {
		PID int `json:"pid"`
		UID int `json:"uid"`
		GID int `json:"gid"`
	}{s.PID, s.UID, s.GID})
}

// netList collects --remote-net values.
type netList []netip.Prefix

func (l *netList) String() string { return fmt.Sprint([]netip.Prefix(*l)) }

func (l *netList) Set(v string) error {
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("want an IPv4 network such as 192.0.2.0/24")
	}
	*l = append(*l, p.Masked())
	return nil
}

func printJSON(w io.Writer, m mailslot.Message) error {
	j := jsonMessage{Time: m.Time, Size: len(m.Data), Data: base64.StdEncoding.EncodeToString(m.Data),
		Sender: newJSONSender(m.Sender)}
	if utf8.Valid(m.Data) {
		t := string(m.Data)
		j.Text = &t
	}
	return writeJSON(w, j, "")
}

// displayText shows a message on a terminal: plain when it is printable
// UTF-8, else Go-quoted, so that no message can drive the terminal.
func displayText(b []byte) string {
	return safetext.Quote(string(b))
}

func runSend(args []string, _, stderr io.Writer, stdin io.Reader) error {
	fs := newFlags("send", stderr)
	lines := fs.Bool("lines", false, "send each line of standard input as its own message")
	timeout := fs.Duration("timeout", mailslot.DefaultWriteTimeout, "how long to wait for room in a full slot (0 = fail at once)")
	owner := fs.String("owner", "", "send only if the slot's reader runs as this user (name or uid), as the kernel reports it")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("missing mailslot NAME")
	}
	if _, err := mailslot.ParseName(pos[0]); err != nil {
		return usageError{err}
	}
	var opts []mailslot.OpenOption
	if *owner != "" {
		uid, err := lookupUID(*owner)
		if err != nil {
			return usageError{err}
		}
		opts = append(opts, mailslot.WithOwner(uid))
	}
	if *timeout < 0 {
		return usagef("--timeout must not be negative")
	}
	fromStdin := len(pos) == 1 || (len(pos) == 2 && pos[1] == "-")
	if *lines && !fromStdin {
		return usagef("--lines reads standard input; give no MESSAGE")
	}
	w, err := mailslot.Open(pos[0], opts...)
	if err != nil {
		return err
	}
	defer w.Close()
	w.SetWriteTimeout(*timeout)
	switch {
	case *lines:
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), mailslot.MaxLocalMessageSize+1)
		for sc.Scan() {
			if _, err := w.Write(sc.Bytes()); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
	case fromStdin:
		data, err := io.ReadAll(io.LimitReader(stdin, mailslot.MaxLocalMessageSize+1))
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	default:
		if _, err := w.Write([]byte(strings.Join(pos[1:], " "))); err != nil {
			return err
		}
	}
	return w.Close()
}

type jsonSlot struct {
	Name     string `json:"name,omitempty"` // only when verified
	PID      int    `json:"pid"`            // as the kernel reports the reader; -1 = unknown
	UID      int    `json:"uid"`
	GID      int    `json:"gid"`
	Writable bool   `json:"writable"`
	Messages *int   `json:"messages,omitempty"` // only for slots that admit the caller
	NextSize *int   `json:"next_size,omitempty"`
	Error    string `json:"error,omitempty"`
}

func runList(args []string, stdout, stderr io.Writer, _ io.Reader) error {
	fs := newFlags("ls", stderr)
	asJSON := fs.Bool("json", false, "print a JSON array")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("ls takes no arguments")
	}
	slots, err := mailslot.List()
	if err != nil {
		return err
	}
	out := make([]jsonSlot, 0, len(slots))
	for _, s := range slots {
		j := jsonSlot{PID: s.PID, UID: s.UID, GID: s.GID, Writable: s.Admitted}
		if s.Err != nil {
			j.Error = s.Err.Error()
		} else {
			j.Name = s.Name.String()
		}
		if s.Admitted {
			j.Messages, j.NextSize = &s.Info.MessageCount, &s.Info.NextSize
		}
		out = append(out, j)
	}
	if *asJSON {
		return writeJSON(stdout, out, "  ")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPID\tUID\tMESSAGES")
	for _, j := range out {
		name, pid, uid, msgs := safetext.Quote(j.Name), "-", "-", "-"
		if j.PID >= 0 {
			pid, uid = strconv.Itoa(j.PID), strconv.Itoa(j.UID)
		}
		if j.Messages != nil {
			msgs = strconv.Itoa(*j.Messages)
		}
		if j.Error != "" {
			name = "? (" + safetext.Escape(j.Error) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, pid, uid, msgs)
	}
	return tw.Flush()
}
