// Package winapi loads the Win32 and NT functions the Windows backend needs
// that golang.org/x/sys/windows does not provide: the mailslot API of
// kernel32, and Wine detection. The bindings are
// generated the x/sys way (mkwinsyscall //sys lines, see zsyscall_windows.go),
// so every function is loaded lazily from the system directory only.
//
// On other platforms the package is empty.
package winapi

//go:generate go run golang.org/x/sys/windows/mkwinsyscall -output zsyscall_windows.go winapi_windows.go
