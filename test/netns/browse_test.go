//go:build linux

package netns

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// browseScale shortens the MS-BRWS periods 20 times (the documented
// test-only flag): announcements at 0, 3, 9, 21 s..., expiry in seconds.
const browseScale = "0.05"

type browseEntry struct {
	Kind, Name, Workgroup, Addr, Comment string
	Type                                 uint32
	TypeNames                            []string `json:"type_names"`
	Master                               bool
}

func browseList(t *testing.T, h *netnstest.Host, args ...string) []browseEntry {
	t.Helper()
	r := mustMS(t, h, append([]string{"browse", "--json"}, args...)...)
	var out []browseEntry
	for _, l := range netnstest.Lines(r.stdout) {
		var e browseEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("browse --json printed %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// waitBrowse polls h's browse list until ok accepts it.
func waitBrowse(t *testing.T, h *netnstest.Host, what string, timeout time.Duration, ok func([]browseEntry) bool) []browseEntry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l := browseList(t, h)
		if ok(l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not within %v; list: %+v", h, what, timeout, l)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func hasHost(l []browseEntry, name string) (browseEntry, bool) {
	for _, e := range l {
		if e.Kind == "host" && e.Name == name {
			return e, true
		}
	}
	return browseEntry{}, false
}

// Browse against Samba's nmbd as the local master browser: each lists the
// other, hosts that stop announcing or say goodbye leave the list, and a
// flood of announcements keeps the agent bounded.
func TestBrowseWithNmbd(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "nmbd", "nmblookup", "smbcontrol", "tshark")
	lab := netnstest.New(t)
	smb, alpha, bravo, charlie, peer := lab.AddHost("smb"), lab.AddHost("alpha"), lab.AddHost("bravo"), lab.AddHost("charlie"), lab.AddHost("peer")
	capture := lab.Capture()
	nmbd := netnstest.StartNmbd(smb, netnstest.NmbdConfig{Name: "SAMBASRV", Workgroup: workgroup,
		Extra: []string{"local master = yes", "preferred master = yes", "os level = 65", "server string = test nmbd"}})
	a := startAgent(t, alpha, "ALPHA", "--comment", "go host", "--browse-test-time-scale", browseScale)
	if err := nmbd.WaitNames(peer, startTimeout); err != nil {
		t.Fatal(err)
	}
	waitName(t, peer, "ALPHA", alpha.Addr)

	t.Run("NmbdListsUs", func(t *testing.T) {
		// nmbd files announcements once it is the local master (about
		// 25 s, reference §10.3); its AnnouncementRequest then, or our
		// next scheduled announcement, puts us in its browse.dat.
		m := waitBrowseDat(t, nmbd, `(?m)^"ALPHA"\s+40001803\s+"go host"\s+"`+workgroup+`"$`, 90*time.Second)
		t.Logf("nmbd's browse.dat: %s", m)
	})

	t.Run("WeListNmbdAsMaster", func(t *testing.T) {
		l := waitBrowse(t, alpha, "SAMBASRV as master", 90*time.Second, func(l []browseEntry) bool {
			e, ok := hasHost(l, "SAMBASRV")
			return ok && e.Master
		})
		e, _ := hasHost(l, "SAMBASRV")
		if e.Workgroup != workgroup || e.Comment != "test nmbd" || e.Addr != smb.Addr.String() ||
			!strings.Contains(strings.Join(e.TypeNames, ","), "MASTER_BROWSER") {
			t.Errorf("%+v", e)
		}
		out := mustMS(t, alpha, "browse").stdout
		if !strings.Contains(out, "master browser of "+workgroup+": SAMBASRV") || !regexp.MustCompile(`(?m)^SAMBASRV\s+`+workgroup).MatchString(out) {
			t.Errorf("browse printed:\n%s", out)
		}
		// nmbd's DomainAnnouncement lists the workgroup itself.
		waitBrowse(t, alpha, "the workgroup from a DomainAnnouncement", 90*time.Second, func([]browseEntry) bool {
			for _, d := range browseList(t, alpha, "--domains") {
				if d.Kind == "domain" && d.Name == workgroup && d.Comment == "SAMBASRV" {
					return true
				}
			}
			return false
		})
	})

	t.Run("GoodbyeAndExpiry", func(t *testing.T) {
		b := startAgent(t, bravo, "BRAVO", "--browse-test-time-scale", browseScale)
		c := startAgent(t, charlie, "CHARLIE", "--browse-test-time-scale", browseScale)
		waitBrowse(t, alpha, "BRAVO and CHARLIE", startTimeout, func(l []browseEntry) bool {
			_, okB := hasHost(l, "BRAVO")
			_, okC := hasHost(l, "CHARLIE")
			return okB && okC
		})
		// CHARLIE stops cleanly: its type-0 announcement removes it.
		if err := c.Stop(10 * time.Second); err != nil {
			t.Log(err)
		}
		waitBrowse(t, alpha, "CHARLIE gone after its goodbye", 10*time.Second, func(l []browseEntry) bool {
			_, ok := hasHost(l, "CHARLIE")
			return !ok
		})
		// BRAVO dies without a word: it expires after three of its
		// (scaled) periods, at most 3 × 36 s.
		b.Signal(syscall.SIGKILL)
		waitBrowse(t, alpha, "BRAVO expired", 150*time.Second, func(l []browseEntry) bool {
			_, ok := hasHost(l, "BRAVO")
			return !ok
		})
	})

	t.Run("Flood", func(t *testing.T) {
		c, err := peer.ListenUDP(peer.Addr.String() + ":138")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rss0, _ := netnstest.StatusKiB(a.Pid(), "VmRSS")
		dst := &net.UDPAddr{IP: alpha.Addr.AsSlice(), Port: 138}
		var b []byte
		for i := range 100_000 {
			ann := browser.NewHostAnnouncement(fmt.Sprintf("F%013x", rand.Uint64()>>12), 720000, browser.Workstation, "flood")
			data, _ := ann.Append(nil)
			m := dgram.Message{Group: true, ID: uint16(i), SourceIP: peer.Addr, Source: netbios.MustNew("FLOODER", 0),
				Dest: netbios.MustNew(workgroup, netbios.MasterBrowser), Mailslot: browser.Mailslot, Data: data}
			if b, err = m.Append(b[:0], smbmail.Samba); err != nil {
				t.Fatal(err)
			}
			c.WriteTo(b, dst)
		}
		l := browseList(t, alpha)
		flood := 0
		for _, e := range l {
			if e.Comment == "flood" {
				flood++
			}
		}
		rss1, _ := netnstest.StatusKiB(a.Pid(), "VmRSS")
		t.Logf("after 100,000 announcements: %d entries (%d from the flood source), agent RSS %d KiB -> %d KiB", len(l), flood, rss0, rss1)
		if flood == 0 || flood > 64 || len(l) > 1024 {
			t.Errorf("%d flood entries, %d in all", flood, len(l))
		}
		if _, ok := hasHost(l, "SAMBASRV"); !ok {
			t.Error("the flood pushed SAMBASRV out of the list")
		}
		if rss1 > 256<<10 {
			t.Errorf("agent RSS %d KiB after the flood", rss1)
		}
	})

	if err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	rows, err := netnstest.Fields(capture.File, `browser.command == 0x01 && browser.server == "ALPHA"`, "browser.comment", "browser.server_type", "browser.period")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 2 || rows[0][0] != "go host" {
		t.Errorf("ALPHA's host announcements in the capture: %v", rows)
	}
	problems, err := netnstest.Problems(capture.File, `browser && !(nbdgm.source_name == "FLOODER<00>")`)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("tshark flags browser frames:\n%s", strings.Join(problems, "\n"))
	}
}

// waitBrowseDat waits until nmbd's browse.dat has a line matching re and
// returns it; nmbd writes the file at most every 5 s, so each round asks
// it to write now (reload-config, reference §10.4).
func waitBrowseDat(t *testing.T, nmbd *netnstest.Nmbd, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	path := filepath.Join(nmbd.Dir, "cache", "browse.dat")
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if m := rx.Find(b); m != nil {
			return string(m)
		}
		if time.Now().After(deadline) {
			t.Fatalf("nmbd's browse.dat has no line matching %s:\n%s\nnmbd:\n%s", re, b, netnstest.Tail(nmbd.Output(), 3000))
		}
		nmbd.Host.Run(cmdTimeout, "smbcontrol", "-s", nmbd.Conf, "nmbd", "reload-config")
		time.Sleep(time.Second)
	}
}
