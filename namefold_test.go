package mailslot_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mailslot/mailslot"
)

func mustParse(t *testing.T, s string) mailslot.Name {
	t.Helper()
	n, err := mailslot.ParseName(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Windows compares names with its own upper-case table (MS-FSA §3.1.5.3,
// the Windows 8 Upper Case Mapping Table), not Unicode's case mapping: these
// pairs are one character in Unicode's eyes and two names on Windows.
var distinctOnWindows = []struct{ why, a, b string }{
	{"dotless i", "ı", "I"},
	{"long s", "ſ", "S"},
	{"micro sign", "µ", "Μ"},
	{"final sigma", "ς", "Σ"},
	{"title-case dz", "ǅ", "Ǆ"},
	{"Georgian Mkhedruli/Mtavruli", "ა", "Ა"},
	{"Cherokee small letter", "ꭰ", "Ꭰ"},
	{"Cherokee small letter ye", "ᏸ", "Ᏸ"},
	{"Deseret (non-BMP)", "𐐨", "𐐀"},
	{"Osage (non-BMP)", "𐓘", "𐒰"},
}

// Pairs the Windows table does fold, as Unicode does.
var sameOnWindows = []struct{ a, b string }{
	{"taxes", "TAXES"}, {"Straße", "STRAßE"}, {"àéîõü", "ÀÉÎÕÜ"}, {"ÿ", "Ÿ"},
	{"αβγσ", "ΑΒΓΣ"}, {"ά", "Ά"}, {"жёлтый", "ЖЁЛТЫЙ"}, {"ǆ", "Ǆ"}, {"ɐ", "Ɐ"},
	{"ⴀ", "Ⴀ"}, // Georgian Nuskhuri/Asomtavruli: in the Windows table
	{"ａｂｃ", "ＡＢＣ"},
}

func TestNamesFoldWithTheWindowsTable(t *testing.T) {
	for _, tc := range distinctOnWindows {
		a := mustParse(t, `\\.\mailslot\x`+tc.a)
		b := mustParse(t, `\\.\mailslot\x`+tc.b)
		if a.Equal(b) || a.Key() == b.Key() {
			t.Errorf("%s: %q and %q are one name here, two on Windows", tc.why, tc.a, tc.b)
		}
	}
	for _, tc := range sameOnWindows {
		a := mustParse(t, `\\.\mailslot\`+tc.a)
		b := mustParse(t, `\\.\mailslot\`+tc.b)
		if !a.Equal(b) {
			t.Errorf("%q and %q should be one name", tc.a, tc.b)
		}
	}
}

// Two slots whose names differ only by a pair Windows keeps apart can both
// exist, and a writer reaches the one it names.
func TestDistinctFoldsAreDistinctSlots(t *testing.T) {
	base := uniqueName(t) + `\`
	for _, tc := range distinctOnWindows[:3] {
		mustCreate(t, base+tc.a, nil)
		mustCreate(t, base+tc.b, nil)
	}
	if _, err := mailslot.Create(base+"i", nil); !errors.Is(err, mailslot.ErrExists) {
		t.Fatalf("i after I: %v", err)
	}
}

// The length limit applies to every spelling of a name alike: it counts
// UTF-16 code units, which the Windows table never changes. (Counted in
// UTF-8 bytes, 2-byte ɐ fits where its 3-byte upper case Ɐ does not.)
func TestLengthLimitHoldsForEverySpelling(t *testing.T) {
	prefix := uniqueName(t) + `\`
	used := len(prefix) - len(`\\.\mailslot\`)
	n := (mailslot.MaxPathLength - used) / 2
	lower := prefix + strings.Repeat("ɐ", n)
	upper := prefix + strings.Repeat("Ɐ", n)
	mustCreate(t, lower, nil)
	if _, err := mailslot.Open(upper); err != nil {
		t.Fatalf("open by the upper-case spelling: %.200v", err)
	}
	full := prefix + strings.Repeat("Ɐ", mailslot.MaxPathLength-used)
	if _, err := mailslot.ParseName(full); err != nil {
		t.Fatalf("at the limit: %.200v", err)
	}
	if _, err := mailslot.ParseName(full + "ɐ"); !errors.Is(err, mailslot.ErrInvalidName) {
		t.Fatalf("one past the limit: %.200v", err)
	}
	// Outside the BMP a character is two code units, as on Windows.
	astral := `\\.\mailslot\` + strings.Repeat("𐐀", mailslot.MaxPathLength/2)
	if _, err := mailslot.ParseName(astral); err != nil {
		t.Fatalf("at the limit: %.200v", err)
	}
	if _, err := mailslot.ParseName(astral + "x"); !errors.Is(err, mailslot.ErrInvalidName) {
		t.Fatalf("past the limit: %.200v", err)
	}
}
