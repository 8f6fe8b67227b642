// Package samples holds real packet bytes from reference/wire-protocol.md
// §11 (captured from Samba 4.17 nmbd, and the MS-MAIL §4 Windows client
// example), for known-answer tests and fuzz seeds.
package samples

import (
	"encoding/hex"
	"strings"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// SambaHostAnnouncement is the whole 210-byte UDP payload of nmbd's
// HostAnnouncement: DIRECT_GROUP from SAMBASRV<00> (192.0.2.10:138) to
// TESTGRP<1d>, \MAILSLOT\BROWSE, no padding, all-zero SMB header fields.
var SambaHostAnnouncement = concat(
	unhex("11 0a 6228 c000020a 008a 00c4 0000"),
	[]byte("\x20FDEBENECEBFDFCFGCACACACACACACAAA\x00"), // SAMBASRV<00>
	[]byte("\x20FEEFFDFEEHFCFACACACACACACACACABN\x00"), // TESTGRP<1d>
	unhex(`ff534d42 25 00000000 00 0000 0000 0000000000000000 0000 0000 0000 0000 0000
	11 0000 2a00 0000 0000 00 00 0000 00000000 0000 0000 0000 2a00 5600 03 00 0100 0100 0200
	3b00`),
	[]byte("\\MAILSLOT\\BROWSE\x00"),
	unhex("01 00 60ea0000"), []byte("SAMBASRV\x00\x00\x00\x00\x00\x00\x00\x00"),
	unhex("06 01 039a8100 0f 01 55aa"), []byte("test nmbd\x00"),
)

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// SambaHostAnnouncementData is the mailslot data (the browser frame) of
// SambaHostAnnouncement.
var SambaHostAnnouncementData = SambaHostAnnouncement[len(SambaHostAnnouncement)-42:]

// WindowsClientWriteHeader is the first 72 bytes of the MS-MAIL §4 example:
// a Windows client's SMB mailslot write to \MAILSLOT\test1\sample_mailslot
// with 36 data bytes (Flags 0x18, Flags2 0x0004, PID 0xFEFF, MaxParam 2,
// transaction Flags 0x0002, 3 bytes of padding, DataOffset 104). The example's
// data bytes are not reproduced; WindowsClientData stands in for them.
var WindowsClientWriteHeader = unhex(`
ff534d42 25 00000000 18 0400 0000 0000000000000000 0000 0000 fffe 0000 0000
11 0000 2400 0200 0000 00 00 0200 00000000 0000 0000 6800 2400 6800 03 00 0100 0000 0200
4700
`)

// WindowsClientName is the mailslot of the MS-MAIL §4 example.
const WindowsClientName = `\MAILSLOT\test1\sample_mailslot`

// WindowsClientData is 36 bytes of stand-in data for the MS-MAIL example.
var WindowsClientData = []byte("The quick brown fox jumps over it!!!")

// NodeStatusResponsePrefix is the start of nmbd's node status response as
// shown in §11: header (id 0x57eb, flags 0x8400, one answer), the wildcard
// name, type NBSTAT, class IN, TTL 0, RDLENGTH 173, 7 names, and the first
// entry SAMBASRV<00> with flags 0x0400 (active, unique, B-node).
var NodeStatusResponsePrefix = concat(
	unhex("57eb 8400 0000 0001 0000 0000"),
	[]byte("\x20CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00"),
	unhex("0021 0001 00000000 00ad 07"),
	[]byte("SAMBASRV       \x00"), unhex("0400"),
)
