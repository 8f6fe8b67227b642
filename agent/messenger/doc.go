// Package messenger is the agent's Messenger service: it receives the
// popups of Windows' "net send" on \MAILSLOT\MESSNGR for HOST<03>, for the
// USER<03> of each local user who runs "mailslot messenger", and broadcast
// to the workgroup; passes each through an anti-spam Policy; keeps a
// bounded history; and hands each popup to the users it is for, over a
// local socket (a system daemon cannot reach a user's desktop session, so
// each user's own process shows them). It also sends popups for local
// users ("mailslot net send"), with From taken from the kernel-verified uid.
// The service runs on Linux, with the agent.
package messenger
