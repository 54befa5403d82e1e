//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package cli

func isTerminalFd(uintptr) bool { return false }
