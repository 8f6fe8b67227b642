package agentproto

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"unicode"
)

// NamespaceEnv selects an isolated mailslot namespace; the agent socket
// lives in it like the local slots do.
const NamespaceEnv = "MAILSLOT_NAMESPACE"

var nsRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

// Namespace returns ns, or the environment's namespace when ns is empty,
// mapped to the form used in socket names: "system" for the default, the
// name itself when it is short and plain, else a hash of it.
func Namespace(ns string) string {
	if ns == "" {
		ns = os.Getenv(NamespaceEnv)
	}
	switch {
	case ns == "":
		return "system"
	case !nsRE.MatchString(ns):
		h := sha256.Sum256([]byte(ns))
		return "h" + hex.EncodeToString(h[:8])
	}
	return ns
}

// Addr is the agent's abstract socket address for namespace ns ("" = the
// environment's), with Go's leading '@' for the abstract namespace.
func Addr(ns string) string { return "@mailslot/" + Namespace(ns) + "/agent" }

// SlotAddr is the abstract address of the local slot \\.\mailslot\path in
// namespace ns, as the root package binds it: the namespace prefix and the
// first 16 bytes of the SHA-256 of the case-folded name, in hex. The agent
// uses it to check that a process registering for a path owns that slot.
func SlotAddr(ns, path string) string {
	key := `.\` + strings.Map(unicode.ToUpper, strings.ReplaceAll(path, "/", `\`))
	h := sha256.Sum256([]byte(key))
	return "@mailslot/" + Namespace(ns) + "/" + hex.EncodeToString(h[:16])
}
