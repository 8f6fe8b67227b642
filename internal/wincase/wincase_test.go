package wincase

import (
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func lookup(r rune) rune {
	if r > 0xFFFF || pageOf[r>>8] == 0 {
		return r
	}
	if u := pages[pageOf[r>>8]-1][r&0xFF]; u != 0 {
		return rune(u)
	}
	return r
}

// ToUpper's shortcuts (ASCII, astral) agree with the table everywhere, and
// the properties Fold and the name length limit rely on hold for every
// character: BMP stays BMP, so the UTF-16 length never changes, and a
// character grows by at most one UTF-8 byte.
func TestToUpperAgreesWithTheTable(t *testing.T) {
	changed := 0
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		u := ToUpper(r)
		if u != lookup(r) {
			t.Fatalf("ToUpper(%U) = %U, table says %U", r, u, lookup(r))
		}
		if u != r {
			changed++
		}
		if utf16.RuneLen(u) != utf16.RuneLen(r) {
			t.Fatalf("%U -> %U changes the UTF-16 length", r, u)
		}
		if utf8.RuneLen(u) > utf8.RuneLen(r)+1 {
			t.Fatalf("%U -> %U grows by more than one byte", r, u)
		}
	}
	if changed != mappings {
		t.Fatalf("%d characters change, the table has %d mappings", changed, mappings)
	}
}

func TestWindowsIsNotUnicode(t *testing.T) {
	for _, r := range []rune{'ı', 'ſ', 'µ', 'ς', 'ǅ', 'ა', 'ꭰ', 'ᏸ', '𐐨', 'ȿ'} {
		if ToUpper(r) != r {
			t.Errorf("%c (%U) became %c; Windows keeps it", r, r, ToUpper(r))
		}
	}
	for l, u := range map[rune]rune{'a': 'A', 'z': 'Z', 'é': 'É', 'ÿ': 'Ÿ', 'σ': 'Σ', 'ж': 'Ж', 'ǆ': 'Ǆ', 'ɐ': 'Ɐ', 'ⴀ': 'Ⴀ', 'ａ': 'Ａ'} {
		if ToUpper(l) != u {
			t.Errorf("ToUpper(%c) = %c, want %c", l, ToUpper(l), u)
		}
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"ABC":               "ABC",
		`a\b`:               `A\B`,
		"straße":            "STRAßE",
		"ɐɐx":               "ⱯⱯX",
		"ıſµς":              "ıſµς",
		"x\xffy\xe2\x82":    "X\xffY\xe2\x82", // invalid bytes kept
		"𐐨é":                "𐐨É",
		"Ünïcödé ΣΊΣΥΦΟΣ ς": "ÜNÏCÖDÉ ΣΊΣΥΦΟΣ ς",
	} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFoldAllocations(t *testing.T) {
	upper := `\\.\MAILSLOT\ÉCOLE\ıſ`
	lower := `\\.\mailslot\école\ɐɐɐɐ`
	if n := testing.AllocsPerRun(100, func() { Fold(upper) }); n != 0 {
		t.Errorf("Fold of an upper-case name: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { Fold(lower) }); n != 1 {
		t.Errorf("Fold of a lower-case name: %v allocations, want 1", n)
	}
}

func BenchmarkFold(b *testing.B) {
	s := `\\.\mailslot\Taxes\Bobs_Comments`
	for i := 0; i < b.N; i++ {
		Fold(s)
	}
}
