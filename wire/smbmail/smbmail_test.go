package smbmail

import (
	"github.com/mailslot/mailslot/internal/allocbound"

	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/mailslot/mailslot/internal/samples"
	"github.com/mailslot/mailslot/winerr"
)

const smbStart = 14 + 34 + 34 // in the Samba capture

func TestSambaStyleMatchesCapture(t *testing.T) {
	want := samples.SambaHostAnnouncement[smbStart:]
	w := Write{Name: `\MAILSLOT\BROWSE`, Data: samples.SambaHostAnnouncementData, Priority: 1}
	got, err := w.Append(nil, Samba)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x (%v)", got, want, err)
	}
	d, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != `\MAILSLOT\BROWSE` || !bytes.Equal(d.Data, samples.SambaHostAnnouncementData) || d.DataOffset != 86 ||
		d.ByteCount != 59 || d.Priority != 1 || d.Class != 2 || d.Padding != 0 {
		t.Fatalf("decoded %+v", d)
	}
}

func TestWindowsStyleMatchesMSMAILExample(t *testing.T) {
	w := Write{Name: samples.WindowsClientName, Data: samples.WindowsClientData}
	got, err := w.Append(nil, Windows)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte(nil), samples.WindowsClientWriteHeader...), samples.WindowsClientName+"\x00\x00\x00\x00"...), samples.WindowsClientData...)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	d, err := Decode(got)
	if err != nil || d.DataOffset != 104 || d.Padding != 3 || d.Flags != 0x18 || d.Flags2 != 4 || d.PID != 0xFEFF ||
		d.TransFlags != 2 || d.MaxParamCount != 2 || d.ParamOffset != 104 || !bytes.Equal(d.Data, samples.WindowsClientData) {
		t.Fatalf("decoded %+v, %v", d, err)
	}
}

func TestPrefixIsUpperCasedOnTheWire(t *testing.T) {
	w := Write{Name: `\mailslot\Browse`, Data: []byte{1}}
	b, err := w.Append(nil, Samba)
	if err != nil || !bytes.Contains(b, []byte(`\MAILSLOT\Browse`+"\x00")) {
		t.Fatalf("%q %v", b, err)
	}
	for _, n := range []string{"", `\MAILSLOT\`, `\PIPE\x`, "\\MAILSLOT\\caf\xc3\xa9"} {
		if _, err := (&Write{Name: n}).Append(nil, Samba); !errors.Is(err, ErrName) {
			t.Errorf("%q: %v", n, err)
		}
	}
}

func TestLimits(t *testing.T) {
	if MaxPayload(`\MAILSLOT\BROWSE`) != 424 || MaxPayload(`\MAILSLOT\MESSNGR`) != 424 || MaxPayload(`\MAILSLOT\NET\NETLOGON`) != 420 {
		t.Fatal("MaxPayload disagrees with MS-MAIL <2>")
	}
	name := `\MAILSLOT\BROWSE`
	if err := CheckPayload(name, 424); err != nil {
		t.Fatal(err)
	}
	err := CheckPayload(name, 425)
	var se *SizeError
	if !errors.As(err, &se) || se.Win32Code() != winerr.ERROR_BAD_NETPATH || se.Max != 424 {
		t.Fatalf("425 bytes: %v", err)
	}
	// Name + data ≤ 443: the largest Samba-style write is exactly 512 bytes.
	max := MaxNameAndData - len(name) - 1
	b, err := (&Write{Name: name, Data: make([]byte, max)}).Append(nil, Samba)
	if err != nil || len(b) != MaxSMB {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	if _, err := (&Write{Name: name, Data: make([]byte, max+1)}).Append(nil, Samba); !errors.As(err, &se) {
		t.Fatalf("one more byte: %v", err)
	}
	// Windows padding costs room: 512 bytes of SMB at most.
	long := `\MAILSLOT\` + strings.Repeat("A", 9)
	wmax := MaxSMB - (nameOffset+len(long)+1+3)&^3
	if _, err := (&Write{Name: long, Data: make([]byte, wmax+1)}).Append(nil, Windows); !errors.As(err, &se) {
		t.Fatalf("windows over 512: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := (&Write{Name: `\MAILSLOT\X`, Data: []byte("abc")}).Append(nil, Samba)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for name, b := range map[string][]byte{
		"short":        good[:20],
		"signature":    mut(func(b []byte) []byte { b[0] = 0; return b }),
		"command":      mut(func(b []byte) []byte { b[4] = 0x24; return b }),
		"wordcount":    mut(func(b []byte) []byte { b[32] = 16; return b }),
		"setup":        mut(func(b []byte) []byte { b[59] = 2; return b }),
		"opcode":       mut(func(b []byte) []byte { b[61] = 2; return b }),
		"no NUL":       mut(func(b []byte) []byte { return b[:nameOffset+5] }),
		"into name":    mut(func(b []byte) []byte { b[57] = 70; return b }),
		"past the end": mut(func(b []byte) []byte { b[55] = 200; return b }),
		"not mailslot": mut(func(b []byte) []byte { copy(b[nameOffset:], `\PIPE\XXXXX`); return b }),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(samples.SambaHostAnnouncement[smbStart:])
	win, _ := (&Write{Name: samples.WindowsClientName, Data: samples.WindowsClientData}).Append(nil, Windows)
	f.Add(win)
	f.Fuzz(func(t *testing.T, b []byte) {
		allocbound.Within(t, "Decode", 32, 4096+2*uint64(len(b)), func() { Decode(b) })
		w, err := Decode(b)
		if err != nil {
			return
		}
		if int(w.DataOffset)+len(w.Data) > len(b) {
			t.Fatal("data outside the input")
		}
		// What decodes re-encodes, unless it is beyond our encoder's limits.
		enc, err := (&Write{Name: w.Name, Data: w.Data, Priority: w.Priority, Class: w.Class}).Append(nil, Samba)
		if err == nil {
			if again, err := Decode(enc); err != nil || again.Name != w.Name || !bytes.Equal(again.Data, w.Data) {
				t.Fatalf("re-encoding: %v", err)
			}
		}
	})
}

func BenchmarkEncodeWrite(b *testing.B) {
	w := Write{Name: `\MAILSLOT\BROWSE`, Data: samples.SambaHostAnnouncementData, Priority: 1}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, _ = w.Append(buf[:0], Windows)
	}
}
