package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/mailslot/mailslot/internal/dissect"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// maxPacket bounds what decode reads: a UDP payload is at most 65507 bytes.
const maxPacket = 65535

func runDecode(args []string, stdout, stderr io.Writer, stdin io.Reader) error {
	fs := newFlags("decode", stderr)
	asHex := fs.Bool("hex", false, "the input is hex (whitespace and text2pcap offsets are ignored)")
	port := fs.Int("port", 0, "the UDP port the payload came from: 137, 138, or 0 to guess")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("at most one FILE")
	}
	if *port != 0 && *port != 137 && *port != 138 {
		return usagef("--port must be 137 or 138")
	}
	in := stdin
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	limit := int64(maxPacket + 1)
	if *asHex {
		limit = 8*maxPacket + 1
	}
	raw, err := io.ReadAll(io.LimitReader(in, limit))
	if err != nil {
		return err
	}
	if int64(len(raw)) == limit {
		return errors.New("decode: input larger than one UDP payload")
	}
	if *asHex {
		if raw, err = dissect.ParseHex(string(raw)); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
	}
	res, derr := dissect.Decode(raw, *port)
	if res != nil && (res.Datagram != nil || res.Names != nil) {
		if err := writeJSON(stdout, res, "  "); err != nil {
			return err
		}
	}
	if derr != nil {
		return fmt.Errorf("decode: %w", derr)
	}
	return nil
}

func runEncode(args []string, stdout, stderr io.Writer, _ io.Reader) error {
	fs := newFlags("encode", stderr)
	to := fs.String("to", "", "destination NetBIOS name, e.g. TESTGRP<1d> (required)")
	from := fs.String("from", "", "source NetBIOS name, e.g. MYHOST<00> (required)")
	slot := fs.String("slot", "", `mailslot, e.g. \MAILSLOT\BROWSE (default \MAILSLOT\BROWSE for --host-announcement)`)
	typ := fs.String("type", "unique", "destination name type: unique (DIRECT_UNIQUE) or group (DIRECT_GROUP)")
	src := fs.String("src", "127.0.0.1", "source IPv4 address written in the datagram header")
	id := fs.Int("id", -1, "datagram ID (default random)")
	style := fs.String("style", "windows", "SMB conventions: windows (padded, Windows header values) or samba")
	priority := fs.Int("priority", 0, "mailslot priority (0-9; Windows sends 0, Samba 1)")
	dataHex := fs.String("data-hex", "", "the message as hex")
	text := fs.String("text", "", "the message as text")
	host := fs.String("host-announcement", "", "send a browser HostAnnouncement for this server name")
	comment := fs.String("comment", "", "HostAnnouncement comment")
	period := fs.Uint("periodicity", 720000, "HostAnnouncement periodicity in milliseconds")
	stype := fs.String("server-type", "0x00011003", "HostAnnouncement server type bits")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("encode takes no positional arguments")
	}
	var m dgram.Message
	if *to == "" || *from == "" {
		return usagef("--to and --from are required")
	}
	if m.Dest, err = netbios.Parse(*to); err != nil {
		return usageError{err}
	}
	if m.Source, err = netbios.Parse(*from); err != nil {
		return usageError{err}
	}
	switch *typ {
	case "unique":
	case "group":
		m.Group = true
	default:
		return usagef("--type must be unique or group")
	}
	if m.SourceIP, err = netip.ParseAddr(*src); err != nil || !m.SourceIP.Is4() {
		return usagef("--src must be an IPv4 address")
	}
	st := smbmail.Windows
	switch *style {
	case "windows":
	case "samba":
		st = smbmail.Samba
	default:
		return usagef("--style must be windows or samba")
	}
	if *priority < 0 || *priority > 9 {
		return usagef("--priority must be 0-9")
	}
	m.Priority = uint16(*priority)
	set := 0
	for _, s := range []string{*dataHex, *text, *host} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return usagef("give exactly one of --data-hex, --text and --host-announcement")
	}
	m.Mailslot = *slot
	switch {
	case *dataHex != "":
		if m.Data, err = hex.DecodeString(strings.Join(strings.Fields(*dataHex), "")); err != nil {
			return usagef("--data-hex: %v", err)
		}
	case *text != "":
		m.Data = []byte(*text)
	default:
		t, err := strconv.ParseUint(*stype, 0, 32)
		if err != nil {
			return usagef("--server-type: %v", err)
		}
		a := browser.NewHostAnnouncement(strings.ToUpper(*host), uint32(*period), browser.ServerType(t), *comment)
		if m.Data, err = a.Append(nil); err != nil {
			return usageError{err}
		}
		if m.Mailslot == "" {
			m.Mailslot = browser.Mailslot
		}
	}
	if m.Mailslot == "" {
		return usagef(`--slot is required (e.g. \MAILSLOT\BROWSE)`)
	}
	if *id >= 0 {
		if *id > 0xFFFF {
			return usagef("--id must be 0-65535")
		}
		m.ID = uint16(*id)
	} else {
		var r [2]byte
		rand.Read(r[:])
		m.ID = binary.BigEndian.Uint16(r[:])
	}
	if m.Group {
		// Windows refuses broadcast writes over its payload limit with
		// ERROR_BAD_NETPATH; so do we.
		if err := smbmail.CheckPayload(m.Mailslot, len(m.Data)); err != nil {
			return err
		}
	}
	b, err := m.Append(nil, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "0000 % x\n", b)
	return nil
}
