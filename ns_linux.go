package mailslot

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// On Linux a local mailslot is an abstract-namespace SOCK_SEQPACKET listening
// socket named "@mailslot/<namespace>/<hash of the case-folded name>".
// Binding the name is the uniqueness check, and the kernel releases it the
// moment the socket is closed or its process dies, so a crashed reader leaves
// nothing behind. Abstract sockets have no file permissions: the slot admits
// or refuses each connection from the kernel's credentials of the connecting
// process (accept_linux.go).

var nsRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

// namespacePrefix is the abstract address prefix of namespace ns.
func namespacePrefix(ns string) string {
	switch {
	case ns == "":
		ns = "system"
	case !nsRE.MatchString(ns):
		h := sha256.Sum256([]byte(ns))
		ns = "h" + hex.EncodeToString(h[:8])
	}
	return "@mailslot/" + ns + "/"
}

// slotAddr is the abstract address of name n in namespace ns.
func slotAddr(ns string, n Name) string {
	return namespacePrefix(ns) + nameHash(n)
}

// nameHash is the last component of a slot's address.
func nameHash(n Name) string {
	h := sha256.Sum256([]byte(n.Key()))
	return hex.EncodeToString(h[:16])
}

// slotAddrs lists the addresses bound under namespace ns's prefix. Anyone can
// bind there, so each is only a candidate (see List).
func slotAddrs(ns string) ([]string, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prefix := namespacePrefix(ns)
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 {
			continue
		}
		p := fields[7]
		if strings.HasPrefix(p, prefix) && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /proc/net/unix: %w", err)
	}
	return out, nil
}
