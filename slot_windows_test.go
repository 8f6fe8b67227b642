package mailslot_test

// Windows-only behaviour of the native backend (run under Wine in CI). The
// portable contract is in conformance_test.go and slot_test.go.

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/winerr"
)

func TestWindowsSenderIsUnknown(t *testing.T) {
	name := uniqueName(t)
	s := mustCreate(t, name, nil)
	mustWrite(t, mustOpen(t, name), "who")
	m, err := s.ReadMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Windows gives a mailslot reader no sender information at all.
	if want := (mailslot.Sender{PID: -1, UID: -1, GID: -1}); m.Sender != want || string(m.Data) != "who" {
		t.Fatalf("message %+v, want data %q and sender %+v", m, "who", want)
	}
}

func TestWindowsOwnerNotSupported(t *testing.T) {
	name := uniqueName(t)
	mustCreate(t, name, nil)
	_, err := mustOpen(t, name).Owner()
	wantErr(t, err, mailslot.ErrNotSupported, winerr.ERROR_NOT_SUPPORTED)
	_, err = mailslot.Open(name, mailslot.WithOwner(0))
	wantErr(t, err, mailslot.ErrNotSupported, winerr.ERROR_NOT_SUPPORTED)
}

func TestWindowsConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		cfg  mailslot.Config
		want error
		code winerr.Errno
	}{
		{mailslot.Config{AllowGroups: []int{100}}, mailslot.ErrNotSupported, winerr.ERROR_NOT_SUPPORTED},
		{mailslot.Config{AllowRemote: true}, mailslot.ErrNotSupported, winerr.ERROR_NOT_SUPPORTED},
		{mailslot.Config{AllowSIDs: []string{"S-1-5-32-545)(A;;GA;;;WD"}}, mailslot.ErrInvalidParameter, winerr.ERROR_INVALID_PARAMETER},
		{mailslot.Config{AllowSIDs: []string{"not a sid"}}, mailslot.ErrInvalidParameter, winerr.ERROR_INVALID_PARAMETER},
	} {
		_, err := mailslot.Create(uniqueName(t), &tc.cfg)
		wantErr(t, err, tc.want, tc.code)
	}
	// Well-formed SIDs and aliases are accepted.
	mustCreate(t, uniqueName(t), &mailslot.Config{AllowSIDs: []string{"S-1-5-32-545", "BU"}, AllowAnyone: true})
}

func TestWindowsNamespaces(t *testing.T) {
	const path = `\\.\mailslot\ns\probe`
	s, err := mailslot.Create(path, &mailslot.Config{Namespace: "alpha-" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Another namespace does not see it...
	_, err = mailslot.Open(path, mailslot.WithNamespace("beta-"+t.Name()))
	wantErr(t, err, mailslot.ErrNotFound, winerr.ERROR_FILE_NOT_FOUND)
	// ...its own does, and so does a native program under the mapped name.
	w, err := mailslot.Open(path, mailslot.WithNamespace("alpha-"+t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	native, err := mailslot.Open(`\\.\mailslot\mailslot-ns\alpha-`+t.Name()+`\ns\probe`, mailslot.WithNamespace(""))
	if err != nil {
		t.Fatal(err)
	}
	defer native.Close()
	mustWrite(t, w, "1")
	mustWrite(t, native, "2")
	for _, want := range []string{"1", "2"} {
		buf := make([]byte, 4)
		if n, err := s.Read(buf); err != nil || string(buf[:n]) != want {
			t.Fatalf("Read = %q, %v; want %q", buf[:n], err, want)
		}
	}
	for _, ns := range []string{`a\b`, "..", "."} {
		if _, err := mailslot.Create(path, &mailslot.Config{Namespace: ns}); !errors.Is(err, mailslot.ErrInvalidParameter) {
			t.Fatalf("namespace %q: %v", ns, err)
		}
	}
	// Win32 would resolve these to other names: refused.
	for _, n := range []string{`\\.\mailslot\a\..\b`, `\\.\mailslot\.\b`, `\\.\mailslot\b.`, `\\.\mailslot\b `} {
		_, err := mailslot.Create(n, nil)
		wantErr(t, err, mailslot.ErrInvalidName, winerr.ERROR_INVALID_NAME)
		_, err = mailslot.Open(n)
		wantErr(t, err, mailslot.ErrInvalidName, winerr.ERROR_INVALID_NAME)
		_, err = mailslot.Open(strings.Replace(n, ".", "HOST", 1)) // remote too
		wantErr(t, err, mailslot.ErrInvalidName, winerr.ERROR_INVALID_NAME)
	}
}

func TestWindowsList(t *testing.T) {
	name := uniqueName(t)
	mustCreate(t, name, nil)
	list, err := mailslot.List()
	if wineDeviation(t, "the mailslot file system cannot be enumerated (ERROR_BAD_DEV_TYPE)") {
		wantErr(t, err, mailslot.ErrNotSupported, winerr.Errno(windows.ERROR_BAD_DEV_TYPE))
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	want, _ := mailslot.ParseName(name)
	for _, st := range list {
		if st.Name.Equal(want) {
			return
		}
	}
	t.Fatalf("List = %+v, want it to hold %s", list, name)
}

func TestWindowsLargeMessage(t *testing.T) {
	// MaxMessageSize 0 is "any size" on Windows too: ReadMessage grows its
	// buffer to the message (Read would fail with ErrBufferTooSmall).
	name := uniqueName(t)
	s := mustCreate(t, name, nil)
	big := bytes.Repeat([]byte("0123456789abcdef"), 6<<10) // 96 KiB
	mustWrite(t, mustOpen(t, name), string(big))
	m, err := s.ReadMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if wineDeviation(t, "short reads truncate: the 64 KiB first read keeps only that much") {
		if !bytes.Equal(m.Data, big[:mailslot.MaxLocalMessageSize]) {
			t.Fatalf("got %d bytes, want Wine's truncated %d", len(m.Data), mailslot.MaxLocalMessageSize)
		}
		return
	}
	if !bytes.Equal(m.Data, big) {
		t.Fatalf("got %d bytes, want %d", len(m.Data), len(big))
	}
}

func TestWindowsRemoteNames(t *testing.T) {
	// Remote and broadcast names go to Windows' redirector, which opens them
	// without looking for the slot; a broadcast over 424 bytes fails. (On
	// Windows 11 24H2 and Server 2025 remote mailslots are off unless the
	// EnableMailslots policy turns them on; this check assumes they are on.)
	w, err := mailslot.Open(`\\*\mailslot\mailslot-test\` + strings.ReplaceAll(t.Name(), "/", "-"))
	if wineDeviation(t, "no mailslot redirector: remote names fail to open (ERROR_PATH_NOT_FOUND)") {
		wantErr(t, err, mailslot.ErrNotFound, winerr.ERROR_PATH_NOT_FOUND)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, err = w.Write(make([]byte, 425))
	wantErr(t, err, mailslot.ErrBadNetPath, winerr.ERROR_BAD_NETPATH)
}

func TestWindowsWriterAfterReaderCloses(t *testing.T) {
	// Unlike the Linux backend (ErrNotFound), Windows keeps a closed slot's
	// queue and name alive while a writer holds it open (Wine and ReactOS
	// do; the reference marks Windows' own behaviour unconfirmed).
	name := uniqueName(t)
	s := mustCreate(t, name, nil)
	w := mustOpen(t, name)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "into the void")
	_, err := mailslot.Create(name, nil)
	wantErr(t, err, mailslot.ErrExists, winerr.ERROR_ALREADY_EXISTS)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, name, nil) // free once the last writer is gone
}
