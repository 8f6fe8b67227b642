package mailslot

import (
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// The descriptor Create builds is the one the kernel holds for the slot:
// read it back from the reader's handle.
func TestSlotSecurityDescriptor(t *testing.T) {
	user, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	me := user.User.Sid.String()
	for _, tc := range []struct {
		cfg       Config
		want, not []string
	}{
		{Config{}, []string{"(A;;GA;;;" + me + ")", "(A;;GA;;;SY)", "(A;;GA;;;BA)"}, []string{";WD)", ";BU)"}},
		{Config{AllowAnyone: true}, []string{"(A;;GA;;;" + me + ")", "(A;;GW;;;WD)"}, []string{";BU)"}},
		{Config{AllowSIDs: []string{"BU", "S-1-5-32-545"}}, []string{"(A;;GW;;;BU)"}, []string{";WD)"}},
	} {
		s, err := Create(`\\.\mailslot\sdtest\`+strings.ReplaceAll(t.Name(), "/", "-"), &tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := windows.GetSecurityInfo(s.h, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := sd.String()
		if !strings.HasPrefix(got, "D:P") {
			t.Errorf("%+v: DACL %s is not protected", tc.cfg, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%+v: DACL %s lacks %s", tc.cfg, got, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("%+v: DACL %s has %s", tc.cfg, got, n)
			}
		}
	}
}
