package mailslot_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/internal/slotbench"
)

func TestMain(m *testing.M) {
	slotbench.AttackerMain() // the attacker of BenchmarkAttack, as uid 65534
	if mode := os.Getenv(helperEnv); mode != "" {
		// The test binary doubles as a hostile (or other-user) process.
		os.Exit(runHelper(mode, os.Args[1:]))
	}
	// Keep the tests' slots out of the system namespace.
	os.Setenv(mailslot.NamespaceEnv, fmt.Sprintf("test-%d", os.Getpid()))
	code := m.Run()
	removeHelper()
	os.Exit(code)
}

// helperEnv selects a helper mode of the test binary (helper_*_test.go).
const helperEnv = "MAILSLOT_TEST_HELPER"

var nameSeq atomic.Int64

// uniqueName returns a fresh local mailslot name for one test.
func uniqueName(t testing.TB) string {
	return fmt.Sprintf(`\\.\mailslot\test\%s\%d`, t.Name(), nameSeq.Add(1))
}

func mustCreate(t testing.TB, name string, cfg *mailslot.Config) *mailslot.Slot {
	t.Helper()
	s, err := mailslot.Create(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustOpen(t testing.TB, name string) *mailslot.Writer {
	t.Helper()
	w, err := mailslot.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func mustWrite(t testing.TB, w *mailslot.Writer, p string) {
	t.Helper()
	if n, err := w.Write([]byte(p)); err != nil || n != len(p) {
		t.Fatalf("Write(%q) = %d, %v", p, n, err)
	}
}

func mustInfo(t testing.TB, s *mailslot.Slot) mailslot.Info {
	t.Helper()
	info, err := s.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info
}
