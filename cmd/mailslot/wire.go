package main

import "io"

func runDecode(args []string, stdout, stderr io.Writer, stdin io.Reader) error {
	return usagef("not built yet")
}

func runEncode(args []string, stdout, stderr io.Writer, stdin io.Reader) error {
	return usagef("not built yet")
}
