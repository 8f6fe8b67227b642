package nbns

import (
	"net/netip"

	"github.com/mailslot/mailslot/wire/netbios"
)

// The constructors below build the packets a B-node exchanges, with the
// flag words Windows and Samba use (reference wire-protocol.md §7).

// NameQuery asks who owns name: flags RD, plus B when broadcast (0x0110, as
// nmblookup sends).
func NameQuery(id uint16, name netbios.Name, broadcast bool) *Packet {
	bits := FlagRecursionDesired
	if broadcast {
		bits |= FlagBroadcast
	}
	return &Packet{ID: id, Flags: MakeFlags(OpQuery, bits, RcodeOK),
		Questions: []Question{{Name: name, Type: TypeNB, Class: ClassIN}}}
}

// PositiveQueryResponse answers a query for a name we own (flags 0x8580:
// response, authoritative, RD, RA, as Samba).
func PositiveQueryResponse(id uint16, name netbios.Name, ttl uint32, addrs ...AddrEntry) *Packet {
	return &Packet{ID: id, Flags: MakeFlags(OpQuery, FlagResponse|FlagAuthoritative|FlagRecursionDesired|FlagRecursionAvailable, RcodeOK),
		Answers: []Resource{{Name: name, Type: TypeNB, Class: ClassIN, TTL: ttl, Addresses: addrs}}}
}

// NegativeQueryResponse says name is not known (RCODE NAM_ERR, type NULL);
// only sent for unicast queries.
func NegativeQueryResponse(id uint16, name netbios.Name) *Packet {
	return &Packet{ID: id, Flags: MakeFlags(OpQuery, FlagResponse|FlagAuthoritative|FlagRecursionDesired, RcodeName),
		Answers: []Resource{{Name: name, Type: TypeNULL, Class: ClassIN, Data: []byte{}}}}
}

// NodeStatusRequest asks a node for its name table (flags 0, as nbtscan
// sends; name is usually netbios.Wildcard).
func NodeStatusRequest(id uint16, name netbios.Name) *Packet {
	return &Packet{ID: id, Questions: []Question{{Name: name, Type: TypeNBSTAT, Class: ClassIN}}}
}

// NodeStatusResponse answers a node status request (flags 0x8400, TTL 0).
// stats may be nil (all zeros, as Samba sends) or start with the MAC.
func NodeStatusResponse(id uint16, name netbios.Name, names []NodeName, stats []byte) *Packet {
	return &Packet{ID: id, Flags: MakeFlags(OpQuery, FlagResponse|FlagAuthoritative, RcodeOK),
		Answers: []Resource{{Name: name, Type: TypeNBSTAT, Class: ClassIN, Status: &NodeStatus{Names: names, Statistics: stats}}}}
}

func nameRequest(op Opcode, bits uint16, id uint16, name netbios.Name, ttl uint32, entry AddrEntry) *Packet {
	return &Packet{ID: id, Flags: MakeFlags(op, bits, RcodeOK),
		Questions:  []Question{{Name: name, Type: TypeNB, Class: ClassIN}},
		Additional: []Resource{{Name: name, Type: TypeNB, Class: ClassIN, TTL: ttl, Addresses: []AddrEntry{entry}}}}
}

// Registration claims name (flags 0x2910 when broadcast: RD and B).
func Registration(id uint16, name netbios.Name, ttl uint32, entry AddrEntry, broadcast bool) *Packet {
	bits := FlagRecursionDesired
	if broadcast {
		bits |= FlagBroadcast
	}
	return nameRequest(OpRegistration, bits, id, name, ttl, entry)
}

// Refresh renews a registration (opcode 8).
func Refresh(id uint16, name netbios.Name, ttl uint32, entry AddrEntry, broadcast bool) *Packet {
	var bits uint16
	if broadcast {
		bits = FlagBroadcast
	}
	return nameRequest(OpRefresh, bits, id, name, ttl, entry)
}

// Release gives a name up (flags 0x3010 when broadcast), TTL 0.
func Release(id uint16, name netbios.Name, entry AddrEntry, broadcast bool) *Packet {
	var bits uint16
	if broadcast {
		bits = FlagBroadcast
	}
	return nameRequest(OpRelease, bits, id, name, 0, entry)
}

// Conflict is the negative registration response (RCODE ACT_ERR) sent to a
// node that tries to register a unique name we own (flags 0xAD86, as Samba).
func Conflict(id uint16, name netbios.Name, owner AddrEntry) *Packet {
	return &Packet{ID: id, Flags: MakeFlags(OpRegistration, FlagResponse|FlagAuthoritative|FlagRecursionDesired|FlagRecursionAvailable, RcodeActive),
		Answers: []Resource{{Name: name, Type: TypeNB, Class: ClassIN, Addresses: []AddrEntry{owner}}}}
}

// Entry is a convenience for an AddrEntry.
func Entry(group bool, ip netip.Addr) AddrEntry {
	var f uint16
	if group {
		f = NBGroup
	}
	return AddrEntry{Flags: f, IP: ip}
}
