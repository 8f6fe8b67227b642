package messenger_test

import (
	"fmt"

	"github.com/mailslot/mailslot/wire/messenger"
)

// Decoded popups are safe to print: escape sequences come out escaped.
func ExampleDecode() {
	m, _ := messenger.Decode([]byte("EVE\x00BOB\x00\x1b[2Jgotcha"), nil)
	fmt.Printf("%s -> %s: %s\n", m.From, m.To, m.Text)
	// Output:
	// EVE -> BOB: \x1b[2Jgotcha
}
