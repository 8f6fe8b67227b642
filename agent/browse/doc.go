// Package browse is the agent's Browser service (MS-BRWS on
// \MAILSLOT\BROWSE) for a workstation: it announces the host to its
// workgroup's master browser on the MS-BRWS schedule, answers announcement
// requests, overhears the announcements of the other hosts and master
// browsers to keep a bounded browse list (with expiry after three missed
// periods), asks the master browser for its backup list to learn who it
// is, and serves the list and its changes to local programs (package
// browse at the module root, "mailslot browse").
package browse
