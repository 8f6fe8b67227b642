package nmbdsock_test

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/mailslot/mailslot/wire/nmbdsock"
)

// Subscribe to every datagram nmbd hands out, then read one frame.
func Example() {
	q := nmbdsock.Query{Type: nmbdsock.Dgram, TrnID: nmbdsock.AnyTrnID}
	b, _ := q.Append(nil)
	fmt.Printf("query: %x\n", b)

	// What nmbd answers: the ack, then a header and the datagram.
	hdr, _ := hex.DecodeString("0500000000000000" + "01000000" + "00000000" + "6b7a076b00000000" + "c0000214" + "8a000000")
	stream := bytes.NewReader(append(append([]byte{nmbdsock.Ack}, hdr...), 0x11, 0x02, 0x00, 0x01, 0xc0))
	if err := nmbdsock.ReadAck(stream); err != nil {
		fmt.Println(err)
		return
	}
	f, err := nmbdsock.ReadFrame(stream, make([]byte, nmbdsock.BufferSize))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Type, f.Src, len(f.Packet), f.Cut())
	// Output:
	// query: 01000000000000000000000000000000ffffffff00000000
	// DGRAM 192.0.2.20:138 5 false
}
