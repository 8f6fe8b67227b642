package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWineListenReceivesSend runs the Windows build of this command as two
// Wine processes: `mailslot.exe listen` creates a real Win32 mailslot and
// prints what `mailslot.exe send` writes to it with CreateFile/WriteFile.
// Wine is required (make deps installs it): without it the test fails.
func TestWineListenReceivesSend(t *testing.T) {
	wrapper, err := filepath.Abs("../../scripts/wine/go-exec")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "mailslot.exe")
	goBin, err := exec.LookPath("go") // go test puts its own go first on PATH
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command(goBin, "build", "-o", exe, ".")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows go build: %v\n%s", err, out)
	}
	// Both processes share one namespace (a path prefix on Windows), unique
	// to this run: the Wine server's mailslot names are machine-wide.
	env := append(os.Environ(), fmt.Sprintf("MAILSLOT_NAMESPACE=winecli-%d", os.Getpid()))
	name := `\\.\mailslot\wine\cli`

	var stdout bytes.Buffer
	// --allow-sid goes into the slot's DACL (BU: the Users group).
	listen := exec.Command(wrapper, exe, "listen", "--count", "2", "--timeout", "60s", "--allow-sid", "BU", name)
	listen.Env = env
	listen.Stdout = &stdout
	stderr, err := listen.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := listen.Start(); err != nil {
		t.Fatalf("starting Wine (%s): %v", wrapper, err)
	}
	defer listen.Process.Kill()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening on ") {
				ready <- nil
				io.Copy(io.Discard, stderr)
				return
			}
			lines = append(lines, sc.Text())
		}
		ready <- fmt.Errorf("listen exited before listening: %s", strings.Join(lines, "\n"))
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("listen did not start within 60 s")
	}
	for _, m := range []string{"hello from a Wine process", "second message"} {
		send := exec.Command(wrapper, exe, "send", name, m)
		send.Env = env
		if out, err := send.CombinedOutput(); err != nil {
			t.Fatalf("mailslot.exe send: %v\n%s", err, out)
		}
	}
	done := make(chan error, 1)
	go func() { done <- listen.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mailslot.exe listen: %v\nstdout: %s", err, stdout.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("listen did not exit after two messages")
	}
	got := strings.ReplaceAll(stdout.String(), "\r\n", "\n")
	if want := "hello from a Wine process\nsecond message\n"; got != want {
		t.Fatalf("listen printed %q, want %q", got, want)
	}
}
