package winapi

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/windows"
)

// These prove the generated bindings against the real kernel32 (Wine's in
// CI): a slot is created, reports its settings, changes its timeout, and a
// message written through CreateFile/WriteFile is counted and read back.
func TestMailslotBindings(t *testing.T) {
	name, _ := windows.UTF16PtrFromString(fmt.Sprintf(`\\.\mailslot\winapi\%d`, os.Getpid()))
	h, err := CreateMailslot(name, 100, 0, nil)
	if err != nil {
		t.Fatalf("CreateMailslotW: %v", err)
	}
	defer windows.CloseHandle(h)
	var max, next, count, timeout uint32
	if err := GetMailslotInfo(h, &max, &next, &count, &timeout); err != nil {
		t.Fatalf("GetMailslotInfo: %v", err)
	}
	if max != 100 || next != MAILSLOT_NO_MESSAGE || count != 0 || timeout != 0 {
		t.Fatalf("info = max %d next %#x count %d timeout %d", max, next, count, timeout)
	}
	if err := SetMailslotInfo(h, 250); err != nil {
		t.Fatalf("SetMailslotInfo: %v", err)
	}
	if err := GetMailslotInfo(h, nil, nil, nil, &timeout); err != nil || timeout != 250 {
		t.Fatalf("timeout after SetMailslotInfo = %d, %v", timeout, err)
	}
	if _, err := CreateMailslot(name, 0, 0, nil); err != windows.ERROR_ALREADY_EXISTS {
		t.Fatalf("second CreateMailslotW: %v, want ERROR_ALREADY_EXISTS", err)
	}

	w, err := windows.CreateFile(name, windows.GENERIC_WRITE, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		t.Fatalf("CreateFile: %v", err)
	}
	defer windows.CloseHandle(w)
	if err := windows.WriteFile(w, []byte("hello"), nil, nil); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if err := GetMailslotInfo(h, nil, &next, &count, nil); err != nil || next != 5 || count != 1 {
		t.Fatalf("after a write: next %d count %d, %v", next, count, err)
	}
	buf := make([]byte, 16)
	var n uint32
	if err := windows.ReadFile(h, buf, &n, nil); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("ReadFile = %q, %v", buf[:n], err)
	}
}

func TestWineVersion(t *testing.T) {
	v, wine := WineVersion()
	t.Logf("wine=%v version=%q", wine, v)
	if wine && v == "" {
		t.Fatal("wine_get_version returned an empty string")
	}
}
