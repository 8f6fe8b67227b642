// Command mailslot creates, writes, lists and benchmarks Windows-style
// mailslots. Run "mailslot help" for the commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mailslot/mailslot/internal/safetext"
	"github.com/mailslot/mailslot/internal/slotbench"
)

type command struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer, stdin io.Reader) error
}

var commands []command

func init() {
	commands = []command{
		{"listen", "NAME [flags]", "create a mailslot and print the messages it receives", runListen},
		{"send", "NAME [MESSAGE...] [--owner USER|UID] [flags]", "send one message (or one per line with --lines)", runSend},
		{"ls", "[--json]", "list the live local mailslots", runList},
		{"bench", "[--json]", "measure mailslots against a raw Unix datagram socket", runBench},
		{"decode", "[--hex] [FILE|-]", "decode a NetBIOS datagram or name service packet as JSON", runDecode},
		{"encode", "--to NAME<xx> --from NAME<xx> --slot SLOT (--text T | --data-hex H | --host-announcement ...)", "build a mailslot datagram and print it as hex", runEncode},
	}
	commands = append(commands, netCommands...)
	commands = append(commands, appCommands...)
}

// usageError marks errors that should exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func main() {
	slotbench.AttackerMain() // the attacker process of "mailslot bench"
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Stdin))
}

func run(args []string, stdout, stderr io.Writer, stdin io.Reader) int {
	if len(args) == 0 {
		printUsage(stderr) // a usage error: stderr, status 2
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr, stdin)
		var ue usageError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "mailslot %s: %s\nusage: mailslot %s %s\n", c.name, safetext.Escape(ue.err.Error()), c.name, c.args)
			return 2
		default:
			fmt.Fprintln(stderr, oneLine(err))
			return 1
		}
	}
	fmt.Fprintf(stderr, "mailslot: unknown command %q (run \"mailslot help\")\n", args[0])
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: mailslot COMMAND [arguments]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"mailslot COMMAND --help\" for a command's flags.")
	fmt.Fprintln(w, `Names look like \\.\mailslot\NAME (or //./mailslot/NAME); the environment`)
	fmt.Fprintln(w, "variable MAILSLOT_NAMESPACE selects an isolated namespace.")
}

// oneLine formats err for the terminal: one line, prefixed, and escaped,
// since errors name mailslots that other users chose.
func oneLine(err error) string {
	s := err.Error()
	if !strings.HasPrefix(s, "mailslot") {
		s = "mailslot: " + s
	}
	return safetext.Escape(strings.ReplaceAll(s, "\n", " "))
}

// newFlags returns a FlagSet whose usage names the command.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, c := range commands {
		if c.name == name {
			fs.Usage = func() {
				fmt.Fprintf(stderr, "usage: mailslot %s %s\n\n%s.\n\nflags:\n", c.name, c.args, c.summary)
				fs.PrintDefaults()
			}
		}
	}
	return fs
}

// parse parses flags that may come before, between or after positional
// arguments, and returns the positional ones. "--" ends flag parsing.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" { // flag.Parse stopped at "--": the rest is positional
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
