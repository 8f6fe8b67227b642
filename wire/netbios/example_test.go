package netbios_test

import (
	"fmt"

	"github.com/mailslot/mailslot/wire/netbios"
)

func ExampleParse() {
	n, _ := netbios.Parse("sambasrv<20>")
	fmt.Println(n, n.Base(), n.Suffix() == netbios.Server)
	fmt.Println(n.FirstLevel())
	// Output:
	// SAMBASRV<20> SAMBASRV true
	// FDEBENECEBFDFCFGCACACACACACACACA
}
