package cli

// fdHolder is implemented by *os.File.
type fdHolder interface{ Fd() uintptr }

// IsTerminal reports whether v (a reader or writer) is an *os.File (or
// anything with an Fd method) connected to a terminal. Anything else, such
// as a pipe, a regular file, /dev/null or a bytes.Buffer, is not.
func IsTerminal(v any) bool {
	f, ok := v.(fdHolder)
	if !ok {
		return false
	}
	return isTerminalFd(f.Fd())
}
