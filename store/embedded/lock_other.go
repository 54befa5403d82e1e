//go:build !unix

package embedded

import "errors"

type dirLock struct{}

func lockDir(dir string) (*dirLock, error) {
	return nil, errors.New("embedded: directory locking is only implemented on unix systems")
}

func (l *dirLock) unlock() error { return nil }
