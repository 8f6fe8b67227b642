// Package messenger is the user side of the Messenger service ("net send"
// popups): it sends popups and reads the history through the host's
// mailslot agent, and shows the popups addressed to the host or to the
// user as desktop notifications (org.freedesktop.Notifications on the
// user's session bus) or, without a desktop, on the user's terminals as
// write(1) does. The agent owns the network and the anti-spam policy
// (package agent/messenger); this package runs as the user, because only
// the user's own processes can reach the user's session bus. Linux only.
package messenger
