package winapi

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

//sys	CreateMailslot(name *uint16, maxMessageSize uint32, readTimeout uint32, sa *windows.SecurityAttributes) (handle windows.Handle, err error) [failretval==windows.InvalidHandle] = kernel32.CreateMailslotW
//sys	GetMailslotInfo(mailslot windows.Handle, maxMessageSize *uint32, nextSize *uint32, messageCount *uint32, readTimeout *uint32) (err error) = kernel32.GetMailslotInfo
//sys	SetMailslotInfo(mailslot windows.Handle, readTimeout uint32) (err error) = kernel32.SetMailslotInfo

// MAILSLOT_WAIT_FOREVER is the read timeout that blocks until a message
// arrives; MAILSLOT_NO_MESSAGE is GetMailslotInfo's next size when the queue
// is empty. Both are (DWORD)-1.
const (
	MAILSLOT_WAIT_FOREVER = 0xFFFFFFFF
	MAILSLOT_NO_MESSAGE   = 0xFFFFFFFF
)

var procWineGetVersion = windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version")

// WineVersion reports whether the process runs under Wine (ntdll exports
// wine_get_version, which Windows' ntdll does not) and, if so, its version.
func WineVersion() (string, bool) {
	if procWineGetVersion.Find() != nil {
		return "", false
	}
	r, _, _ := procWineGetVersion.Call()
	// r points at a static string inside Wine's ntdll, not at Go memory;
	// converting through a pointer to it keeps vet's unsafeptr check quiet.
	return windows.BytePtrToString(*(**byte)(unsafe.Pointer(&r))), true
}
