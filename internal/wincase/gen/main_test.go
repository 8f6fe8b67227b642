package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// The committed table is exactly what the generator makes of the committed
// data: nobody edited either alone.
func TestTableIsUpToDate(t *testing.T) {
	src, err := os.ReadFile("upcase.txt")
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../table.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("table.go differs from what upcase.txt generates: run go generate ./internal/wincase")
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		"",                               // no mappings
		"0x0061",                         // one field
		"0x0061\t0x0041\t0x1",            // three fields
		"0061\t0041",                     // no 0x
		"0x0061\t0x0061",                 // identity
		"0x0061\t0x0041\n0x0061\t0x0042", // duplicate
		"0xd800\t0x0041",                 // surrogate
		"0x0061\t0x0000",                 // NUL
		"0x10000\t0x0041",                // beyond 16 bits
	} {
		if _, err := parse([]byte(in)); err == nil {
			t.Errorf("%q: accepted", in)
		}
	}
	m, err := parse([]byte("; comment\n0x0061\t0x0041 ; a\n\n"))
	if err != nil || len(m) != 1 || m[0x61] != 0x41 {
		t.Fatalf("%v %v", m, err)
	}
	if b, err := generate([]byte("0x00e9\t0x00c9")); err != nil || !strings.Contains(string(b), "DO NOT EDIT") {
		t.Fatalf("%v", err)
	}
}
