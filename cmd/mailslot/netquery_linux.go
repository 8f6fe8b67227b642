package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/mailslot/mailslot/internal/agentproto"
)

// agentQuery asks the agent one question and decodes its JSON answer.
func agentQuery(kind byte, arg string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := agentproto.Dial(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, agentproto.MaxFrame)
	f, err := agentproto.Roundtrip(c, &agentproto.Frame{Op: agentproto.OpQuery, Kind: kind, Arg: arg}, buf)
	if err != nil {
		return fmt.Errorf("talking to the agent: %w", err)
	}
	switch f.Op {
	case agentproto.OpJSON:
		return json.Unmarshal(f.Data, v)
	case agentproto.OpResult:
		if f.Code != 0 {
			return errors.New(f.Message)
		}
	}
	return fmt.Errorf("unexpected answer from the agent (op %q)", f.Op)
}

func printJSONValue(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func oneArg(cmd string, args []string, stderr io.Writer, what string) (string, bool, error) {
	fs := newFlags(cmd, stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return "", false, err
	}
	if what == "" {
		if len(pos) != 0 {
			return "", false, usagef("%s takes no arguments", cmd)
		}
		return "", *asJSON, nil
	}
	if len(pos) != 1 {
		return "", false, usagef("want exactly one %s", what)
	}
	return pos[0], *asJSON, nil
}

func runLookup(args []string, stdout, stderr io.Writer, _ io.Reader) error {
	name, asJSON, err := oneArg("lookup", args, stderr, "NAME[<xx>]")
	if err != nil {
		return err
	}
	var r agentproto.LookupResult
	if err := agentQuery(agentproto.QueryLookup, name, &r); err != nil {
		return err
	}
	if asJSON {
		return printJSONValue(stdout, r)
	}
	kind := ""
	if r.Group {
		kind = " (group)"
	}
	for _, a := range r.Addrs {
		fmt.Fprintf(stdout, "%s %s%s\n", a, r.Name, kind)
	}
	return nil
}

func runStatus(args []string, stdout, stderr io.Writer, _ io.Reader) error {
	host, asJSON, err := oneArg("status", args, stderr, "HOST or IP")
	if err != nil {
		return err
	}
	var r agentproto.StatusResult
	if err := agentQuery(agentproto.QueryStatus, host, &r); err != nil {
		return err
	}
	if asJSON {
		return printJSONValue(stdout, r)
	}
	fmt.Fprintf(stdout, "Node status of %s (%s):\n", r.Host, r.Addr)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, e := range r.Names {
		kind, state := "unique", "active"
		if e.Group {
			kind = "group"
		}
		if e.Conflict {
			state = "conflict"
		} else if !e.Active {
			state = "inactive"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", e.Name, kind, state)
	}
	tw.Flush()
	if r.MAC != "" {
		fmt.Fprintf(stdout, "MAC address = %s\n", r.MAC)
	}
	return nil
}

func runNames(args []string, stdout, stderr io.Writer, _ io.Reader) error {
	_, asJSON, err := oneArg("names", args, stderr, "")
	if err != nil {
		return err
	}
	var t agentproto.NameTable
	if err := agentQuery(agentproto.QueryNames, "", &t); err != nil {
		return err
	}
	if asJSON {
		return printJSONValue(stdout, t)
	}
	fmt.Fprintf(stdout, "%s in workgroup %s\n", t.Name, t.Workgroup)
	for _, i := range t.Interfaces {
		fmt.Fprintf(stdout, "  interface %s %s\n", i.Name, i.Addr)
	}
	printMode(stdout, &t)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, e := range t.Names {
		kind := "unique"
		if e.Group {
			kind = "group"
		}
		extra := ""
		if e.Defender != "" {
			extra = "defended by " + e.Defender
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Name, kind, e.State, extra)
	}
	return tw.Flush()
}
