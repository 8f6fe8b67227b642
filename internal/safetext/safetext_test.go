package safetext

import (
	"encoding/json"
	"strings"
	"testing"
)

const (
	csi = "\u009b"
	rlo = "\u202e"
)

// unsafeRunes are what must never come out raw.
var unsafeRunes = []string{csi, rlo, "\x1b", "\x07", "\x7f", "\u0085", "\u2066", "\u2069", "\u200f", "\u2028", "\U000e0001", "\ufeff"}

func rawUnsafe(s string) string {
	for _, u := range unsafeRunes {
		if strings.Contains(s, u) {
			return u
		}
	}
	return ""
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		`\\.\mailslot\plain`:        `\\.\mailslot\plain`,
		"école\tok":                 "école\tok",
		"a" + csi + "31mred":        `"a\u009b31mred"`,
		"invoice" + rlo + "fdp.exe": `"invoice\u202efdp.exe"`,
		"\x1b]0;title\x07":          `"\x1b]0;title\a"`,
		"bad\xff":                   `"bad\xff"`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	for _, u := range unsafeRunes {
		if IsSafe("x"+u) || rawUnsafe(Quote("x"+u)) != "" {
			t.Errorf("%q passes raw", u)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"mailslot: open \\\\.\\mailslot\\a: not found": "mailslot: open \\\\.\\mailslot\\a: not found",
		"open a" + csi + "2J" + rlo + "b: not found":   `open a\u009b2J\u202eb: not found`,
		"x\x1b[31m\xffé\U000e0001":                     `x\x1b[31m\xffé\U000e0001`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %s, want %s", in, got, want)
		}
	}
	for _, u := range unsafeRunes {
		if rawUnsafe(Escape("x"+u)) != "" {
			t.Errorf("%q passes raw", u)
		}
	}
}

func TestJSON(t *testing.T) {
	v := map[string]string{"name": "a" + csi + "b" + rlo + "c\x7fd\U000e0001é\u2066", "plain": "<ok>"}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if rawUnsafe(string(b)) == "" {
		t.Fatal("encoding/json escapes these now; the test needs new cases")
	}
	got := JSON(b)
	if u := rawUnsafe(string(got)); u != "" {
		t.Fatalf("%q raw in %s", u, got)
	}
	for _, esc := range []string{`\u009b`, `\u202e`, `\u007f`, `\udb40\udc01`, `\u2066`, "é"} {
		if !strings.Contains(string(got), esc) {
			t.Errorf("%s lacks %s", got, esc)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil || back["name"] != v["name"] || back["plain"] != v["plain"] {
		t.Fatalf("does not decode to the same text: %v %q", err, back)
	}
	clean := []byte(`{"a":"é\n"}` + "\n")
	if got := JSON(clean); &got[0] != &clean[0] {
		t.Error("copied JSON that needed no change")
	}
	if got := string(JSON([]byte("\"\xff\""))); got != `"\ufffd"` {
		t.Errorf("invalid byte: %s", got)
	}
}

func FuzzJSON(f *testing.F) {
	f.Add("a\u009bb\u202ec")
	f.Add("\U0010ffff\x7f")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		out := JSON(b)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		var want string
		json.Unmarshal(b, &want)
		if back != want {
			t.Fatalf("%q decodes as %q, want %q", out, back, want)
		}
		if u := rawUnsafe(string(out)); u != "" {
			t.Fatalf("%q raw in %s", u, out)
		}
		if !IsSafe(Escape(s)) || !IsSafe(Quote(s)) {
			t.Fatalf("Escape or Quote of %q is not safe", s)
		}
	})
}
