package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ file, want string }{
		{"bogus = 1\n", `unknown setting "bogus"`},
		{"name\n", "want key = value"},
		{"# comment\nrate-in = fast\n", "rate-in"},
		{"log-format = xml\n", "invalid --log-format"},
		{"static = FOO=not-an-ip\n", "invalid --static"},
		{"allow-net = 10.0.0.0/33\n", "invalid --allow-net"},
	} {
		p := filepath.Join(dir, "agent.conf")
		if err := os.WriteFile(p, []byte(c.file), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code := run([]string{"agent", "--config", p}, &out, &errb, nil)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.file, code, errb.String(), c.want)
		}
	}
}

func TestConfigFileSetsFlags(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.conf")
	os.WriteFile(p, []byte("# settings\nname = ALPHA\ninterface = eth0\ninterface = eth1\nrate-in = -1\n"), 0o600)
	fs := newFlags("agent", &bytes.Buffer{})
	name := fs.String("name", "", "")
	var ifs listFlag
	fs.Var(&ifs, "interface", "")
	rate := fs.Float64("rate-in", 1, "")
	if err := configFromFile(fs, p); err != nil {
		t.Fatal(err)
	}
	if *name != "ALPHA" || len(ifs) != 2 || ifs[1] != "eth1" || *rate != -1 {
		t.Fatalf("name %q interfaces %v rate %v", *name, ifs, *rate)
	}
	if got := findConfig([]string{"--name", "X", "--config=" + p}); got != p {
		t.Fatalf("findConfig = %q", got)
	}
}

func TestToolsWithoutAgent(t *testing.T) {
	t.Setenv("MAILSLOT_NAMESPACE", "noagent-"+t.Name())
	for _, args := range [][]string{{"names"}, {"lookup", "BRAVO"}, {"status", "192.0.2.1", "--json"}} {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb, nil)
		msg := errb.String()
		if code != 1 || !strings.Contains(msg, "mailslot agent") || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, msg)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"lookup"}, &out, &errb, nil); code != 2 {
		t.Errorf("lookup without a name: exit %d", code)
	}
}
