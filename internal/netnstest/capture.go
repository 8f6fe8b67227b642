//go:build linux

package netnstest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Capture records every frame crossing the lab bridge with dumpcap, run in
// the bridge's namespace: it sees all hosts' traffic and nothing else.
type Capture struct {
	*Proc
	File string
	lab  *Lab
	seg  *Segment // the segment captured; nil for the lab bridge
	out  *os.File
	mu   sync.Mutex
	seen []byte // the stream so far, searched for the stop marker
	done chan struct{}
}

// Capture starts recording. The capture stops (and the file is complete)
// after Stop.
func (l *Lab) Capture() *Capture {
	l.t.Helper()
	return l.capture(Bridge, nil)
}

// Capture records every frame crossing the segment's bridge: the traffic of
// that LAN only. It stops after Stop.
func (s *Segment) Capture() *Capture {
	s.lab.t.Helper()
	return s.lab.capture(s.Bridge, s)
}

func (l *Lab) capture(bridge string, seg *Segment) *Capture {
	l.t.Helper()
	Tool(l.t, "dumpcap", "tshark")
	dir, err := TempDir("pcap")
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		if l.t.Failed() {
			// Renamed out of the stale sweep's reach.
			kept := filepath.Join(filepath.Dir(dir), "msnt-kept-"+filepath.Base(dir))
			if os.Rename(dir, kept) == nil {
				dir = kept
			}
			l.t.Logf("capture kept for inspection: %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	file := filepath.Join(dir, "lab.pcapng")
	f, err := os.Create(file)
	if err != nil {
		l.t.Fatal(err)
	}
	// dumpcap writes to a pipe packet by packet (to a file it buffers, and
	// libpcap holds packets up to 250 ms): Stop can then wait for a marker
	// packet and know that everything sent before it is in the file.
	cmd := exec.Command("ip", "netns", "exec", l.bridgeNS, "dumpcap", "-q", "-i", bridge, "-w", "-")
	cmd.Env = l.Env()
	c := &Capture{File: file, lab: l, seg: seg, out: f, done: make(chan struct{})}
	// An os.Pipe, not StdoutPipe: Wait (run as soon as dumpcap exits)
	// would close StdoutPipe's reader before the copy has read the end.
	pr, pw, err := os.Pipe()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd.Stdout = pw
	p, err := l.startProc("dumpcap@"+bridge, cmd)
	pw.Close() // dumpcap holds the write end; EOF when it exits
	if err != nil {
		pr.Close()
		l.t.Fatal(err)
	}
	c.Proc = p
	go c.copy(pr)
	// dumpcap reports on stderr once the interface is open; frames sent
	// before that would be missed.
	if _, err := p.WaitOutput(`Capturing on`, 30*time.Second); err != nil {
		l.t.Fatal(err)
	}
	return c
}

func (c *Capture) copy(r io.ReadCloser) {
	defer close(c.done)
	defer r.Close()
	defer c.out.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			c.out.Write(buf[:n])
			c.mu.Lock()
			c.seen = append(c.seen, buf[:n]...)
			c.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// markerFrom returns a host on the captured LAN, its address and the
// LAN's broadcast address.
func (c *Capture) markerFrom() (*Host, netip.Addr, netip.Addr, bool) {
	for _, h := range c.lab.Hosts() {
		if c.seg == nil {
			return h, h.Addr, h.Broadcast, true
		}
		if a := c.seg.Addr(h); a.IsValid() {
			return h, a, c.seg.Broadcast, true
		}
	}
	return nil, netip.Addr{}, netip.Addr{}, false
}

// Stop ends the capture once everything sent before it is recorded: it
// broadcasts a marker datagram (UDP port 9, discard) from the first host
// on the captured LAN and waits until the marker is in the file.
func (c *Capture) Stop() error {
	if ok, _ := c.Exited(); ok {
		<-c.done
		return nil
	}
	if h, src, bcast, ok := c.markerFrom(); ok {
		marker := []byte(fmt.Sprintf("netnstest-capture-stop-%d", time.Now().UnixNano()))
		err := h.Do(func() error {
			u, err := net.ListenPacket("udp4", src.String()+":0")
			if err != nil {
				return err
			}
			defer u.Close()
			_, err = u.WriteTo(marker, &net.UDPAddr{IP: bcast.AsSlice(), Port: 9})
			return err
		})
		if err != nil {
			return fmt.Errorf("capture marker: %v", err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			c.mu.Lock()
			found := bytes.Contains(c.seen, marker)
			c.mu.Unlock()
			if found {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("dumpcap did not record the stop marker within 30 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := c.Signal(syscall.SIGINT); err != nil {
		return err
	}
	if err := c.Wait(30 * time.Second); err != nil {
		return fmt.Errorf("dumpcap: %v: %s", err, c.Output())
	}
	<-c.done
	return nil
}

// Fields runs tshark on a capture file with a display filter and returns the
// fields of each matching packet (tshark -T fields, one slice per packet).
// A field that occurs several times (the question name and its record)
// gives its first occurrence.
func Fields(file, filter string, fields ...string) ([][]string, error) {
	args := []string{"-r", file, "-n", "-Y", filter, "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tshark", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tshark -Y %q: %v: %s", filter, err, stderr.String())
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		rows = append(rows, strings.Split(line, "|"))
	}
	return rows, nil
}

// ExpertWarning is a display filter for malformed packets and expert
// information of severity warning or worse (0x600000 is PI_WARN).
const ExpertWarning = `(_ws.malformed || _ws.expert.severity >= 0x600000)`

// Problems lists the packets matching filter that tshark finds malformed or
// flags with an expert warning or error: frame number, protocols and the
// expert messages.
func Problems(file, filter string) ([]string, error) {
	f := ExpertWarning
	if filter != "" {
		f = "(" + filter + ") && " + ExpertWarning
	}
	rows, err := Fields(file, f, "frame.number", "frame.protocols", "_ws.expert.message", "_ws.col.Info")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rows {
		out = append(out, strings.Join(r, " | "))
	}
	return out, nil
}
