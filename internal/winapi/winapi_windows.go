package winapi

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

//sys	CreateMailslot(name *uint16, maxMessageSize uint32, readTimeout uint32, sa *windows.SecurityAttributes) (handle windows.Handle, err error) [failretval==windows.InvalidHandle] = kernel32.CreateMailslotW
//sys	GetMailslotInfo(mailslot windows.Handle, maxMessageSize *uint32, nextSize *uint32, messageCount *uint32, readTimeout *uint32) (err error) = kernel32.GetMailslotInfo
//sys	SetMailslotInfo(mailslot windows.Handle, readTimeout uint32) (err error) = kernel32.SetMailslotInfo
//sys	NtQueryDirectoryFile(dir windows.Handle, event windows.Handle, apcRoutine uintptr, apcContext uintptr, iosb *windows.IO_STATUS_BLOCK, info *byte, length uint32, class uint32, single bool, fileName *windows.NTUnicodeString, restart bool) (ntstatus error) = ntdll.NtQueryDirectoryFile

// MAILSLOT_WAIT_FOREVER is the read timeout that blocks until a message
// arrives; MAILSLOT_NO_MESSAGE is GetMailslotInfo's next size when the queue
// is empty. Both are (DWORD)-1.
const (
	MAILSLOT_WAIT_FOREVER = 0xFFFFFFFF
	MAILSLOT_NO_MESSAGE   = 0xFFFFFFFF
)

// FileDirectoryInformation is the FILE_INFORMATION_CLASS of
// FILE_DIRECTORY_INFORMATION records.
const FileDirectoryInformation = 1

// FileDirectoryInfo is the fixed part of FILE_DIRECTORY_INFORMATION; the
// UTF-16 file name (FileNameLength bytes) follows it.
type FileDirectoryInfo struct {
	NextEntryOffset uint32
	FileIndex       uint32
	CreationTime    int64
	LastAccessTime  int64
	LastWriteTime   int64
	ChangeTime      int64
	EndOfFile       int64
	AllocationSize  int64
	FileAttributes  uint32
	FileNameLength  uint32
}

// FileDirectoryInfoSize is the offset of the name in a record.
const FileDirectoryInfoSize = unsafe.Offsetof(FileDirectoryInfo{}.FileNameLength) + 4

var procWineGetVersion = modntdll.NewProc("wine_get_version")

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
