// Package netns holds the network integration tests of mailslot: real
// `mailslot agent` processes in Linux network namespaces (built with
// internal/netnstest), Samba's nmbd and nmblookup, nbtscan, raw sockets that
// speak as Windows does, and tshark watching the wire. They need root, as CI
// runs them; they fail, never skip, when a tool is missing (make deps).
package netns
