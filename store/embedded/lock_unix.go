//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/troikahq/troika/store"
)

// lockFileName is the lock file in a data directory; it holds the pid of
// the process that owns the directory.
const lockFileName = "troika.lock"

// dirLock is an exclusive flock(2) on the directory's lock file. flock
// belongs to the open file description, so a second Open in the same
// process conflicts too, and closing some other descriptor of the file does
// not release it (unlike fcntl locks).
type dirLock struct {
	f *os.File
}

func lockDir(dir string) (*dirLock, error) {
	path := dir + string(os.PathSeparator) + lockFileName
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("embedded: open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		pid := 0
		if b, rerr := os.ReadFile(path); rerr == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &store.LockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("embedded: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("embedded: write lock file: %w", err)
		}
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	// Leave the pid in place: it is only read while the lock is held.
	err := unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
