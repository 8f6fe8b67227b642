package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

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
	if s, err := mailslot.Create(name, nil); err == nil {
		t.Cleanup(func() { s.Close() })
	} else {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"ls"}, {"ls", "--json"}} {
		out, errOut, code := cli("", args...)
		if code != 0 {
			t.Fatalf("%q: exit %d %s", args, code, errOut)
		}
		checkNoRaw(t, strings.Join(args, " "), out)
		if len(args) == 1 && !strings.Contains(out, `\u009b31m\u202eexe.txt`) {
			t.Errorf("ls does not show the name escaped: %q", out)
		}
		var slots []jsonSlot
		if len(args) == 2 && (json.Unmarshal([]byte(out), &slots) != nil || !hasSlot(slots, name)) {
			t.Errorf("ls --json lost the name: %s", out)
		}
	}
}

func hasSlot(slots []jsonSlot, name string) bool {
	for _, sl := range slots {
		if sl.Name == name {
			return true
		}
	}
	return false
}

func TestListenEscapesNamesAndText(t *testing.T) {
	// The banner and the timeout error both name the slot.
	_, errOut, code := cli("", "listen", evilName(t), "--timeout", "50ms")
	if code != 1 || !strings.Contains(errOut, "listening on") || !strings.Contains(errOut, "timeout") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	checkNoRaw(t, "listen's banner and error", errOut)

	msg := "text" + csi + "2J" + rlo
	for _, asJSON := range []bool{false, true} {
		name := evilName(t)
		args := []string{name, "--count", "1"}
		if asJSON {
			args = append(args, "--json")
		}
		cmd, out := startListener(t, args...)
		if err := mailslot.Send(name, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		checkNoRaw(t, fmt.Sprintf("listen (json %v)", asJSON), out.String())
		var m jsonMessage
		if asJSON && (json.Unmarshal([]byte(out.String()), &m) != nil || m.Text == nil || *m.Text != msg) {
			t.Fatalf("listen --json: %s", out.String())
		}
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
