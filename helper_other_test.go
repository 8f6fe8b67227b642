//go:build !linux

package mailslot_test

func runHelper(mode string, args []string) int { return 2 }

func removeHelper() {}
