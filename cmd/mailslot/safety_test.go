package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot"
)

// A name or text built to attack a terminal: a C1 CSI (U+009B, "ESC [" in
// one character) and a right-to-left override (U+202E).
const (
	csi = "\u009b"
	rlo = "\u202e"
)

func evilName(t *testing.T) string {
	return slotName(t) + `\red` + csi + "31m" + rlo + "exe.txt"
}

// checkNoRaw fails when out holds either character unescaped.
func checkNoRaw(t *testing.T, what, out string) {
	t.Helper()
	if strings.Contains(out, csi) || strings.Contains(out, rlo) {
		t.Errorf("%s: U+009B or U+202E reaches the terminal raw: %q", what, out)
	}
}

func TestListEscapesNames(t *testing.T) {
	name := evilName(t)
	s, err := mailslot.Create(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, errOut, code := cli("", "ls")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	checkNoRaw(t, "ls", out)
	if !strings.Contains(out, `\u009b31m\u202eexe.txt`) {
		t.Errorf("ls does not show the name escaped: %q", out)
	}
	out, errOut, code = cli("", "ls", "--json")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	checkNoRaw(t, "ls --json", out)
	var slots []jsonSlot
	if err := json.Unmarshal([]byte(out), &slots); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sl := range slots {
		found = found || sl.Name == name
	}
	if !found {
		t.Errorf("ls --json lost the name: %s", out)
	}
}

func TestListenEscapesNamesAndText(t *testing.T) {
	name := evilName(t)
	cmd := cliCommand("listen", name, "--count", "1")
	out := &lockedBuffer{}
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	checkNoRaw(t, "listen's banner", line)
	sendWithin(t, name, "text"+csi+"2J"+rlo)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	checkNoRaw(t, "listen", out.String())

	name = evilName(t)
	cmd, out = startListener(t, name, "--json", "--count", "1")
	msg := "text" + csi + "2J" + rlo
	sendWithin(t, name, msg)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	checkNoRaw(t, "listen --json", out.String())
	var m jsonMessage
	if err := json.Unmarshal([]byte(out.String()), &m); err != nil || m.Text == nil || *m.Text != msg {
		t.Fatalf("listen --json: %v %s", err, out.String())
	}
}

// sendWithin sends once the listener's slot exists (it is created before
// the banner, but the banner may come first when the name is escaped).
func sendWithin(t *testing.T, name, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := mailslot.Send(name, []byte(msg))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestErrorsEscapeNames(t *testing.T) {
	_, errOut, code := cli("", "send", evilName(t), "hi")
	if code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	checkNoRaw(t, "send's error", errOut)
	if !strings.Contains(errOut, `\u009b31m\u202eexe.txt`) {
		t.Errorf("the error does not show the name escaped: %q", errOut)
	}
}

func TestDecodeEscapesText(t *testing.T) {
	hexOut, errOut, code := cli("", "encode", "--to", "TESTGRP<1d>", "--from", "EVIL<00>", "--type", "group",
		"--host-announcement", "EVIL", "--comment", "see"+csi+"2J"+rlo+"txt")
	if code != 0 {
		t.Fatalf("encode: exit %d %s", code, errOut)
	}
	out, errOut, code := cli(hexOut, "decode", "--hex")
	if code != 0 {
		t.Fatalf("decode: exit %d %s", code, errOut)
	}
	checkNoRaw(t, "decode", out)
	if got := field(decodeJSON(t, out), "browser", "fields", "comment"); got != "see"+csi+"2J"+rlo+"txt" {
		t.Fatalf("comment %q", got)
	}
}
