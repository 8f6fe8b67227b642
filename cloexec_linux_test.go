package mailslot_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/mailslot/mailslot"
	"golang.org/x/sys/unix"
)

// openFDs lists this process's descriptors.
func openFDs(t *testing.T) map[int]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	fds := map[int]bool{}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			fds[fd] = true
		}
	}
	return fds
}

func TestDescriptorsAreCloseOnExec(t *testing.T) {
	// Finding 17: no descriptor of a slot or a writer may leak into a
	// program another goroutine executes.
	before := openFDs(t)
	name := uniqueName(t)
	s := mustCreate(t, name, nil)
	w := mustOpen(t, name)
	mustWrite(t, w, "x")
	if _, err := w.Info(); err != nil {
		t.Fatal(err)
	}
	if _, err := mailslot.List(); err != nil {
		t.Fatal(err)
	}
	mustInfo(t, s)
	checked := 0
	for fd := range openFDs(t) {
		if before[fd] {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // the directory listing's own descriptor, now closed
		}
		checked++
		if flags&unix.FD_CLOEXEC == 0 {
			target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
			t.Errorf("descriptor %d (%s) is not close-on-exec", fd, target)
		}
	}
	if checked < 4 { // listener, epoll set, quota page, wake channel, connections
		t.Fatalf("only %d new descriptors seen", checked)
	}
}
