package mailslot_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mailslot/mailslot"
)

// A reader creates a slot; any writer sends whole messages to it.
func Example() {
	slot, err := mailslot.Create(`\\.\mailslot\example\status`, &mailslot.Config{ReadTimeout: time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer slot.Close()

	// Elsewhere (usually another process): one Write is one message.
	w, err := mailslot.Open(`//./MAILSLOT/Example/Status`) // names are case-insensitive
	if err != nil {
		fmt.Println(err)
		return
	}
	w.Write([]byte("disk 93% full"))
	w.Write(nil) // empty messages are real messages
	w.Close()

	info, _ := slot.Info()
	fmt.Println("queued:", info.MessageCount, "next size:", info.NextSize)
	buf := make([]byte, 512)
	for {
		n, err := slot.Read(buf)
		if errors.Is(err, mailslot.ErrTimeout) {
			break
		}
		fmt.Printf("%q\n", buf[:n])
		if n == 0 {
			break
		}
	}
	// Output:
	// queued: 2 next size: 13
	// "disk 93% full"
	// ""
}

// A read into a buffer that is too small fails and keeps the message, as on
// Windows; Info tells the size to allocate.
func ExampleSlot_Read_bufferTooSmall() {
	slot, _ := mailslot.Create(`\\.\mailslot\example\small`, nil)
	defer slot.Close()
	mailslot.Send(`\\.\mailslot\example\small`, []byte("a longer message"))

	_, err := slot.Read(make([]byte, 4))
	fmt.Println(errors.Is(err, mailslot.ErrBufferTooSmall), mailslot.Code(err))
	info, _ := slot.Info()
	buf := make([]byte, info.NextSize)
	n, _ := slot.Read(buf)
	fmt.Println(string(buf[:n]))
	// Output:
	// true Win32 error 122
	// a longer message
}

func ExampleParseName() {
	n, _ := mailslot.ParseName(`\\*\mailslot\browse`)
	fmt.Println(n.Host, n.Path, n.IsLocal())
	_, err := mailslot.ParseName(`blah`)
	fmt.Println(mailslot.Code(err))
	// Output:
	// * browse false
	// Win32 error 123
}

// A writer that must not talk to an impostor demands the reader's user: a
// slot squatted by someone else fails the Open before anything is sent.
func ExampleWithOwner() {
	slot, err := mailslot.Create(`\\.\mailslot\example\owned`, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer slot.Close()
	w, err := mailslot.Open(`\\.\mailslot\example\owned`, mailslot.WithOwner(os.Geteuid()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	owner, _ := w.Owner()
	fmt.Println(owner.PID == os.Getpid(), owner.UID == os.Geteuid())
	_, err = mailslot.Open(`\\.\mailslot\example\owned`, mailslot.WithOwner(os.Geteuid()+1))
	fmt.Println(errors.Is(err, mailslot.ErrAccessDenied))
	// Output:
	// true true
	// true
}
