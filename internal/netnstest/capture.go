//go:build linux

package netnstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Capture records every frame crossing the lab bridge with dumpcap, run in
// the bridge's namespace: it sees all hosts' traffic and nothing else.
type Capture struct {
	*Proc
	File string
}

// Capture starts recording. The capture stops (and the file is complete)
// after Stop.
func (l *Lab) Capture() *Capture {
	l.t.Helper()
	Tool(l.t, "dumpcap", "tshark")
	dir, err := os.MkdirTemp("", "msnt-pcap-")
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		if l.t.Failed() {
			l.t.Logf("capture kept for inspection: %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	file := filepath.Join(dir, "lab.pcapng")
	cmd := exec.Command("ip", "netns", "exec", l.bridgeNS, "dumpcap", "-q", "-i", Bridge, "-w", file)
	cmd.Env = l.Env()
	p, err := l.startProc("dumpcap@bridge", cmd)
	if err != nil {
		l.t.Fatal(err)
	}
	// dumpcap reports on stderr once the interface is open; frames sent
	// before that would be missed.
	if _, err := p.WaitOutput(`Capturing on`, 30*time.Second); err != nil {
		l.t.Fatal(err)
	}
	return &Capture{Proc: p, File: file}
}

// Stop ends the capture and waits for the file to be complete.
func (c *Capture) Stop() error {
	if ok, _ := c.Exited(); ok {
		return nil
	}
	if err := c.Signal(syscall.SIGINT); err != nil {
		return err
	}
	if err := c.Wait(30 * time.Second); err != nil {
		return fmt.Errorf("dumpcap: %v: %s", err, c.Output())
	}
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
