package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/mailslot/mailslot"
)

func TestListenJSONSenders(t *testing.T) {
	var b bytes.Buffer
	remote := mailslot.Message{Data: []byte("hi"), Time: time.Now(), Sender: mailslot.Sender{PID: -1, UID: -1, GID: -1,
		Remote: true, Host: "ALPHA", Addr: netip.MustParseAddrPort("192.0.2.11:138")}}
	local := mailslot.Message{Data: []byte("yo"), Time: time.Now(), Sender: mailslot.Sender{PID: 42, UID: 0, GID: 7}}
	if err := printJSON(&b, remote); err != nil {
		t.Fatal(err)
	}
	if err := printJSON(&b, local); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n"))
	var r, l struct {
		Text   string         `json:"text"`
		Sender map[string]any `json:"sender"`
	}
	if err := json.Unmarshal(lines[0], &r); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &l); err != nil {
		t.Fatal(err)
	}
	if r.Text != "hi" || len(r.Sender) != 3 || r.Sender["name"] != "ALPHA" || r.Sender["ip"] != "192.0.2.11" || r.Sender["port"] != 138.0 {
		t.Fatalf("remote line %s", lines[0])
	}
	if l.Text != "yo" || len(l.Sender) != 3 || l.Sender["pid"] != 42.0 || l.Sender["uid"] != 0.0 || l.Sender["gid"] != 7.0 {
		t.Fatalf("local line %s", lines[1])
	}
}
