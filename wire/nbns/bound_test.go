package nbns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/mailslot/mailslot/internal/allocbound"
	"github.com/mailslot/mailslot/wire/netbios"
)

// amplifier is the packet of issue 6 finding 18: one question whose name
// has a 64-label scope, then as many 6-byte questions as fit in size bytes,
// each a label pointer back to that name.
func amplifier(size int) []byte {
	b := make([]byte, headerLen, size)
	b = append(b, 32)
	for i := 0; i < 32; i++ {
		b = append(b, 'A')
	}
	for i := 0; i < 64; i++ {
		b = append(b, 1, 'a')
	}
	b = append(b, 0, 0, 0x20, 0, 1)
	n := 1
	for len(b)+6 <= size {
		b = append(b, 0xC0, headerLen, 0, 0x20, 0, 1)
		n++
	}
	binary.BigEndian.PutUint16(b[4:], uint16(n))
	return b
}

// What Decode may allocate for a packet of n bytes, at most: a few
// allocations per record (its name's scope, its RDATA), MaxRecords records
// a section, and a small multiple of the input in bytes (an NB address
// entry takes 32 bytes of memory for 6 on the wire).
const allocBound = 32 + 4*4*MaxRecords

func byteBound(n int) uint64 { return 8192 + 8*uint64(n) }

// checkBound decodes b and fails when that costs more than the bound.
func checkBound(t *testing.T, b []byte) {
	t.Helper()
	allocbound.Within(t, fmt.Sprintf("Decode of %d bytes", len(b)), allocBound, byteBound(len(b)), func() { Decode(b) })
}

func TestAmplifierIsRefusedCheaply(t *testing.T) {
	b := amplifier(65506)
	if n := binary.BigEndian.Uint16(b[4:]); n != 10889 || len(b) != 65506 {
		t.Fatalf("%d questions in %d bytes", n, len(b))
	}
	checkBound(t, b)
	if _, err := Decode(b); !errors.Is(err, ErrTooManyRecords) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("10889 questions: %v", err)
	}
}

// Within MaxRecords, pointers to one name decode it once: the scope string
// is allocated for the first question and the first pointer only.
func TestPointerTargetsDecodeOnce(t *testing.T) {
	b := amplifier(headerLen + 166 + 6*(MaxRecords-1))
	p, err := Decode(b)
	if err != nil || len(p.Questions) != MaxRecords {
		t.Fatalf("%d questions, %v", len(p.Questions), err)
	}
	for _, q := range p.Questions {
		if q != p.Questions[0] {
			t.Fatalf("%v differs from %v", q.Name, p.Questions[0].Name)
		}
	}
	if allocs, _ := allocbound.Measure(func() { Decode(b) }); allocs > 3 {
		t.Fatalf("%d allocations for %d questions: pointer targets decoded more than once", allocs, MaxRecords)
	}
	checkBound(t, b)
}

// The Packet owns its memory: reusing the input buffer changes nothing.
func TestDecodeDoesNotAlias(t *testing.T) {
	p := NodeStatusResponse(1, netbios.Wildcard, sambaNames(), []byte("unit-id"))
	p.Additional = []Resource{{Name: netbios.Wildcard, Type: TypeNULL, Class: ClassIN, Data: []byte("hi")}}
	buf, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 0xEE
	}
	if st := d.Answers[0].Status.Statistics; string(st[:7]) != "unit-id" {
		t.Errorf("Statistics alias the input: %q", st)
	}
	if string(d.Additional[0].Data) != "hi" {
		t.Errorf("Data aliases the input: %q", d.Additional[0].Data)
	}
}

func TestDecodePrefixReportsTrailingBytes(t *testing.T) {
	q, _ := NodeStatusRequest(7, netbios.Wildcard).Append(nil)
	p, n, err := DecodePrefix(append(q, "junk"...))
	if err != nil || n != len(q) || len(p.Questions) != 1 {
		t.Fatalf("n %d of %d, %v", n, len(q), err)
	}
}

func BenchmarkDecodeAmplifier(b *testing.B) {
	p := amplifier(65506)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Decode(p)
	}
}

// BenchmarkDecodeMaxPointers is the most a packet can still ask for:
// MaxRecords questions, each a pointer to a name with a 64-label scope.
func BenchmarkDecodeMaxPointers(b *testing.B) {
	p := amplifier(headerLen + 166 + 6*(MaxRecords-1))
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Decode(p)
	}
}
