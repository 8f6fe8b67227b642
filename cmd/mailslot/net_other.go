//go:build !linux

package main

// The network agent and its tools run on Linux only.
var netCommands []command
