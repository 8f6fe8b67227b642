package mailslot

import (
	"strings"
	"testing"
)

// Wine cannot enumerate mailslots (TestWindowsList), so List's filtering of
// what Windows enumerates is checked on its own.

func TestListedFiltersNamespaces(t *testing.T) {
	names := []string{`status`, `net\netlogon`, `MAILSLOT-NS\alpha\x`, `mailslot-ns\beta\y`, `bad*name`}
	str := func(l []SlotStatus) []string {
		var out []string
		for _, st := range l {
			if st.Err != nil {
				out = append(out, "error")
				continue
			}
			out = append(out, st.Name.String())
			if st.PID != -1 || st.UID != -1 || st.GID != -1 {
				t.Errorf("%s: identity %d/%d/%d, want -1s", st.Name, st.PID, st.UID, st.GID)
			}
		}
		return out
	}
	if got, want := strings.Join(str(listed(names, "")), " "), `\\.\mailslot\status \\.\mailslot\net\netlogon error`; got != want {
		t.Errorf("default namespace: %s, want %s", got, want)
	}
	if got, want := strings.Join(str(listed(names, `mailslot-ns\alpha\`)), " "), `\\.\mailslot\x`; got != want {
		t.Errorf("namespace alpha: %s, want %s", got, want)
	}
}
