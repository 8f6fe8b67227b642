package agent

import (
	"testing"

	"github.com/mailslot/mailslot/wire/smbmail"
)

func TestMaxPayload(t *testing.T) {
	for _, c := range []struct {
		path  string
		group bool
		style smbmail.Style
		want  int
	}{
		{"BROWSE", false, smbmail.Windows, 424}, // MS-MAIL <2>
		{"BROWSE", true, smbmail.Windows, 424},
		{`NET\NETLOGON`, false, smbmail.Windows, 420},
		{`app\inbox`, false, smbmail.Windows, 420},
		{`app\inbox`, false, smbmail.Samba, 423}, // name + data <= 443
		{"x", true, smbmail.Samba, 424},          // broadcast cap
		{"x", false, smbmail.Samba, 431},
	} {
		if got := maxPayload(c.path, c.group, c.style); got != c.want {
			t.Errorf("%s group=%v style=%v: %d, want %d", c.path, c.group, c.style, got, c.want)
		}
		// The limit is exactly what the encoder accepts.
		w := smbmail.Write{Name: smbmail.Prefix + c.path, Data: make([]byte, maxPayload(c.path, false, c.style))}
		if _, err := w.Append(nil, c.style); err != nil {
			t.Errorf("%s: the largest payload does not encode: %v", c.path, err)
		}
		w.Data = append(w.Data, 0)
		if _, err := w.Append(nil, c.style); err == nil {
			t.Errorf("%s: one byte more still encodes", c.path)
		}
	}
}
