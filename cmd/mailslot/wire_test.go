package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailslot/mailslot/internal/samples"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

func decodeJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return m
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, style := range []string{"windows", "samba"} {
		hexOut, errOut, code := cli("", "encode", "--to", "TESTGRP<1d>", "--from", "gohost<00>", "--type", "group", "--src", "192.0.2.20",
			"--style", style, "--id", "4660", "--host-announcement", "gohost", "--comment", "hello", "--periodicity", "60000")
		if code != 0 || !strings.HasPrefix(hexOut, "0000 11 ") {
			t.Fatalf("encode %s: exit %d %q %q", style, code, hexOut, errOut)
		}
		out, errOut, code := cli(hexOut, "decode", "--hex")
		if code != 0 {
			t.Fatalf("decode: exit %d %s", code, errOut)
		}
		m := decodeJSON(t, out)
		for path, want := range map[string]any{
			"nbdgm.type": "direct_group", "nbdgm.dgram_id": 4660.0, "nbdgm.source_ip": "192.0.2.20",
			"nbdgm.source_name": "GOHOST<00>", "nbdgm.destination_name": "TESTGRP<1d>",
			"mailslot.name": `\MAILSLOT\BROWSE`, "mailslot.class": 2.0,
			"browser.command": "HostAnnouncement", "browser.fields.server_name": "GOHOST",
			"browser.fields.comment": "hello", "browser.fields.periodicity": 60000.0,
		} {
			if got := field(m, strings.Split(path, ".")...); got != want {
				t.Errorf("%s: %s = %v, want %v", style, path, got, want)
			}
		}
		pad := field(m, "smb", "padding")
		if (style == "windows") != (pad != 0.0) {
			t.Errorf("%s: padding %v", style, pad)
		}
	}
}

func TestDecodeBinaryFileAndNameService(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.bin")
	os.WriteFile(file, samples.SambaHostAnnouncement, 0o644)
	out, errOut, code := cli("", "decode", file)
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	if m := decodeJSON(t, out); field(m, "browser", "fields", "comment") != "test nmbd" {
		t.Fatalf("%s", out)
	}
	q, _ := nbns.NodeStatusRequest(7, netbios.Wildcard).Append(nil)
	out, errOut, code = cli(fmt.Sprintf("0000 % x\n", q), "decode", "--hex", "--port", "137")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	m := decodeJSON(t, out)
	qs, _ := field(m, "nbns", "questions").([]any)
	if field(m, "port") != 137.0 || len(qs) != 1 || qs[0].(map[string]any)["type"] != 33.0 {
		t.Fatalf("%s", out)
	}
}

func TestDecodeGarbage(t *testing.T) {
	trunc := hex.EncodeToString(samples.SambaHostAnnouncement[:120])
	for _, tc := range []struct{ in, args, want string }{
		{"not hex", "--hex", "not hex"},
		{"", "", "name service"},
		{trunc, "--hex", "DGM_LENGTH"},
		{"11 0a 62 28", "--hex --port 138", "NetBIOS datagram"},
	} {
		args := append([]string{"decode"}, strings.Fields(tc.args)...)
		_, errOut, code := cli(tc.in, args...)
		if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q (want one line mentioning %q)", tc.in, code, errOut, tc.want)
		}
	}
}

func TestEncodeLimits(t *testing.T) {
	// A broadcast over Windows' 424-byte limit fails like WriteFile does
	// (ERROR_BAD_NETPATH); a unique write may use the wire maximum (443
	// bytes of name and data: 425 fit without Windows' padding).
	big := strings.Repeat("ab", 425)
	_, errOut, code := cli("", "encode", "--to", "WG<00>", "--from", "ME<00>", "--type", "group", "--slot", `\MAILSLOT\BROWSE`, "--data-hex", big)
	if code != 1 || !strings.Contains(errOut, "424") {
		t.Fatalf("exit %d %q", code, errOut)
	}
	_, errOut, code = cli("", "encode", "--to", "PC<00>", "--from", "ME<00>", "--style", "samba", "--slot", `\MAILSLOT\BROWSE`, "--data-hex", big)
	if code != 0 {
		t.Fatalf("unique 425 bytes: exit %d %q", code, errOut)
	}
	for _, args := range [][]string{
		{"encode", "--from", "ME<00>", "--slot", `\MAILSLOT\X`, "--text", "x"},
		{"encode", "--to", "WG", "--from", "ME<00>", "--slot", `\MAILSLOT\X`, "--text", "x"},
		{"encode", "--to", "WG<00>", "--from", "ME<00>", "--text", "x"},
		{"encode", "--to", "WG<00>", "--from", "ME<00>", "--slot", `\MAILSLOT\X`},
		{"encode", "--to", "WG<00>", "--from", "ME<00>", "--slot", `\MAILSLOT\X`, "--text", "x", "--style", "os2"},
	} {
		if _, _, code := cli("", args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestDecodeReportsTrailingBytes(t *testing.T) {
	q, _ := nbns.NodeStatusRequest(7, netbios.Wildcard).Append(nil)
	out, errOut, code := cli(fmt.Sprintf("% x 00 ff", q), "decode", "--hex")
	if code != 1 || !strings.Contains(errOut, "2 bytes of trailing data") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if m := decodeJSON(t, out); field(m, "nbns", "trailing_bytes") != 2.0 {
		t.Fatalf("%s", out)
	}
}
