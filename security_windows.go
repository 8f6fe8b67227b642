package mailslot

import (
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The security descriptor of a new slot. Only writers need access rights
// (the reader holds the handle CreateMailslot returned), so the DACL says who
// may open the slot for writing:
//   - always: the creating user, SYSTEM and the Administrators group, with
//     full access: what Windows' default DACL of a user's token grants, but
//     spelled out so a service's or an impersonating token's default DACL
//     cannot widen it;
//   - AllowAnyone: Everyone (WD) may write;
//   - AllowSIDs: each listed SID (or SDDL alias such as "BU") may write.
//     This is Windows' form of Config.AllowGroups: Windows groups are SIDs,
//     not numbers, so AllowGroups itself is refused (ErrNotSupported).
// The descriptor is protected (P): nothing is inherited.
//
// Windows applies this DACL to local CreateFile calls only. Messages from
// other machines arrive through Windows' own mailslot server, which writes
// them whatever the DACL says (see docs/semantics.md).

// securityAttributes builds the SECURITY_ATTRIBUTES for CreateMailslotW.
func securityAttributes(set *settings) (*windows.SecurityAttributes, error) {
	sddl, err := slotSDDL(set)
	if err != nil {
		return nil, err
	}
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return nil, fmt.Errorf("%w: security descriptor %q: %v", ErrInvalidParameter, sddl, err)
	}
	return &windows.SecurityAttributes{
		Length:             uint32(unsafe.Sizeof(windows.SecurityAttributes{})),
		SecurityDescriptor: sd,
	}, nil
}

// slotSDDL returns the descriptor in SDDL.
func slotSDDL(set *settings) (string, error) {
	if len(set.allowGroups) > 0 {
		return "", fmt.Errorf("%w: AllowGroups takes Unix group IDs; on Windows use AllowSIDs", ErrNotSupported)
	}
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", winErr(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "D:P(A;;GA;;;%s)(A;;GA;;;SY)(A;;GA;;;BA)", user.User.Sid.String())
	if set.allowAnyone {
		b.WriteString("(A;;GW;;;WD)")
	}
	for _, s := range set.allowSIDs {
		sid, err := parseSID(s)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "(A;;GW;;;%s)", sid)
	}
	return b.String(), nil
}

// parseSID accepts a SID string (S-1-5-32-545) or a two-letter SDDL alias
// (BU, AU, ...) and returns it in a form that cannot break out of an ACE.
func parseSID(s string) (string, error) {
	if len(s) == 2 && strings.ToUpper(s) == s && strings.IndexFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' }) < 0 {
		return s, nil
	}
	sid, err := windows.StringToSid(s)
	if err != nil {
		return "", fmt.Errorf("%w: AllowSIDs entry %q is not a SID: %v", ErrInvalidParameter, s, err)
	}
	return sid.String(), nil
}
