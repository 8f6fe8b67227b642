package mailslot_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mailslot/mailslot"
)

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		in         string
		host, path string
	}{
		{`\\.\mailslot\a`, ".", "a"},
		{`\\.\MailSlot\a\b\c`, ".", `a\b\c`},
		{`//./mailslot/a/b`, ".", `a\b`},
		{`\\*\mailslot\browse`, "*", "browse"},
		{`\\WORKGROUP\mailslot\net\netlogon`, "WORKGROUP", `net\netlogon`},
		{`\\.\mailslot\R:\FRED`, ".", `R:\FRED`}, // ':' is legal (Wine ntdll test)
	} {
		n, err := mailslot.ParseName(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if n.Host != tc.host || n.Path != tc.path {
			t.Errorf("%s: got %+v", tc.in, n)
		}
		if again, err := mailslot.ParseName(n.String()); err != nil || again != n {
			t.Errorf("%s: String() %q does not round-trip", tc.in, n.String())
		}
	}
}

func TestParseNameRejects(t *testing.T) {
	for _, in := range []string{
		"", "blah", `\\.\pipe\x`, `\\.\mailslot`, `\\.\mailslot\`, `\\.\mailslot\a\\b`, `\\.\mailslot\a\`,
		`\\\mailslot\a`, `\.\mailslot\a`, `\\.\mailslot\a*`, "\\\\.\\mailslot\\a\x00b", "\\\\.\\mailslot\\\xff",
		`\\SIXTEENCHARSLONG\mailslot\a`, `\\.\mailslot\` + strings.Repeat("x", mailslot.MaxPathLength+1),
	} {
		if _, err := mailslot.ParseName(in); !errors.Is(err, mailslot.ErrInvalidName) {
			t.Errorf("%q: err %v", in, err)
		}
	}
}

func TestNamesAreCaseInsensitive(t *testing.T) {
	a, _ := mailslot.ParseName(`\\.\mailslot\Taxes\Bobs_Comments`)
	b, _ := mailslot.ParseName(`//./MAILSLOT/taxes/BOBS_comments`)
	if !a.Equal(b) || a.Key() != b.Key() {
		t.Fatalf("%v and %v differ", a, b)
	}
	name := uniqueName(t) + `\MiXeD`
	s := mustCreate(t, name, nil)
	mustWrite(t, mustOpen(t, strings.ToUpper(name)), "hi")
	if info := mustInfo(t, s); info.MessageCount != 1 {
		t.Fatalf("count %d", info.MessageCount)
	}
	if _, err := mailslot.Create(strings.ToLower(name), nil); !errors.Is(err, mailslot.ErrExists) {
		t.Fatalf("lower-case duplicate: %v", err)
	}
}

func TestLongNames(t *testing.T) {
	// Far beyond the 108-byte Unix socket path limit.
	name := uniqueName(t) + `\` + strings.Repeat("long", 200)
	if wineDeviation(t, "Win32 names of 260 characters or more fail with ERROR_FILENAME_EXCED_RANGE") {
		_, err := mailslot.Create(name, nil)
		wantWineErr(t, err, 206)
		return
	}
	s := mustCreate(t, name, nil)
	mustWrite(t, mustOpen(t, name), "x")
	if info := mustInfo(t, s); info.MessageCount != 1 {
		t.Fatalf("count %d", info.MessageCount)
	}
}

func TestCreateRejectsRemoteNames(t *testing.T) {
	for _, n := range []string{`\\*\mailslot\x`, `\\HOST\mailslot\x`} {
		_, err := mailslot.Create(n, nil)
		if !errors.Is(err, mailslot.ErrInvalidName) || !strings.Contains(err.Error(), "local") {
			t.Errorf("%s: %v", n, err)
		}
	}
}
