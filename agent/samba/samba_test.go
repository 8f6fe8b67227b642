package samba

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSocketPath(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "smb.conf")
	for _, c := range []struct{ conf, want string }{
		{"", "/run/samba/nmbd/unexpected"},
		{"[global]\n  workgroup = X\n  NMBD:Socket  Dir = /srv/nmbd  \n", "/srv/nmbd/unexpected"},
		// Before any section counts as [global]; a share's value does not.
		{"nmbd:socket dir = /a\n[share]\nnmbd:socket dir = /b\n", "/a/unexpected"},
		// Comments, continuation lines, the last value wins.
		{"[global]\n# nmbd:socket dir = /c\n; nmbd:socket dir = /d\nnmbd:socket dir = /e\nnmbd:socket \\\ndir = /f\n", "/f/unexpected"},
	} {
		if c.conf != "" {
			if err := os.WriteFile(conf, []byte(c.conf), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		path := conf
		if c.conf == "" {
			path = filepath.Join(dir, "absent.conf")
		}
		if got := SocketPath(path); got != c.want {
			t.Errorf("SocketPath(%q) = %q, want %q", c.conf, got, c.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Auto, "auto": Auto, "owner": Owner, "beside-samba": Beside} {
		if m, ok := ParseMode(in); !ok || m != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, m, ok)
		}
	}
	if _, ok := ParseMode("beside"); ok {
		t.Error(`ParseMode("beside") accepted`)
	}
}
