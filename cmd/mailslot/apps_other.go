//go:build !linux

package main

// The Messenger and browse commands need the agent (Linux only).
var appCommands []command
