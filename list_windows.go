package mailslot

import (
	"fmt"
	"strings"

	"golang.org/x/sys/windows"
)

// List lists the local mailslots of the caller's namespace by enumerating
// \\.\mailslot\ with FindFirstFileW, where the mailslot file system allows
// it. Wine 8's does not (FindFirstFileW fails with ERROR_BAD_DEV_TYPE, and
// NtQueryDirectoryFile on \Device\MailSlot with STATUS_BAD_DEVICE_TYPE):
// List then fails with ErrNotSupported carrying that code. Windows reports
// no reader identity for a slot: PID, UID and GID are -1, and Info is not
// filled in (only the reader's handle can ask for it on Windows 7; a client
// handle can on Windows 8+, at the cost of opening every slot).
func List(opts ...OpenOption) ([]SlotStatus, error) {
	o := newOpenOptions(opts)
	prefix := ""
	if o.namespace != "" {
		k, err := kernelName(Name{Host: ".", Path: "x"}, o.namespace)
		if err != nil {
			return nil, opErr("list", "", err)
		}
		prefix = strings.TrimSuffix(strings.TrimPrefix(k, `\\.\mailslot\`), "x")
	}
	names, err := enumerate()
	if err != nil {
		return nil, opErr("list", `\\.\mailslot\`, err)
	}
	return listed(names, prefix), nil
}

// listed turns enumerated paths (below \\.\mailslot\) into the slots of the
// namespace whose path prefix is prefix ("" for the default namespace,
// which does not show other namespaces' slots).
func listed(names []string, prefix string) []SlotStatus {
	hasPrefix := func(s, p string) bool { return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) }
	var out []SlotStatus
	for _, path := range names {
		if prefix != "" {
			if !hasPrefix(path, prefix) {
				continue
			}
			path = path[len(prefix):]
		} else if hasPrefix(path, nsRoot) {
			continue // another namespace's slot
		}
		n, err := ParseName(`\\.\mailslot\` + path)
		st := SlotStatus{Name: n, PID: -1, UID: -1, GID: -1}
		if err != nil {
			st.Err = err
		}
		out = append(out, st)
	}
	return out
}

// enumerate returns the names under \\.\mailslot\ as the file system
// reports them.
func enumerate() ([]string, error) {
	pattern, _ := windows.UTF16PtrFromString(`\\.\mailslot\*`)
	var fd windows.Win32finddata
	h, err := windows.FindFirstFile(pattern, &fd)
	if err == windows.ERROR_FILE_NOT_FOUND || err == windows.ERROR_NO_MORE_FILES {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the mailslot file system cannot be enumerated here: %w", winErr(err))
	}
	defer windows.FindClose(h)
	var names []string
	for {
		names = append(names, windows.UTF16ToString(fd.FileName[:]))
		if err := windows.FindNextFile(h, &fd); err != nil {
			if err == windows.ERROR_NO_MORE_FILES {
				return names, nil
			}
			return names, winErr(err)
		}
	}
}
