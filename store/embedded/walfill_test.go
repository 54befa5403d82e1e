package embedded

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/troikahq/troika/store"
)

// TestZeroFillFile writes a log through the filler in writes of random
// sizes, as fills run alongside: what was written reads back unchanged
// (no fill ever overwrote it), and the file is zeroed beyond the head.
func TestZeroFillFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "000001.log")
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	z := newZeroFillFile(f, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	var want bytes.Buffer
	for want.Len() < 3*walFillChunk {
		p := make([]byte, 1+rng.IntN(64<<10))
		for i := range p {
			p[i] = byte(1 + rng.IntN(255)) // never zero, so a stray fill shows
		}
		if _, err := z.Write(p); err != nil {
			t.Fatal(err)
		}
		want.Write(p)
		if rng.IntN(8) == 0 {
			if err := z.SyncData(); err != nil {
				t.Fatal(err)
			}
		}
	}
	z.mu.Lock()
	zeroed := z.zeroed
	z.mu.Unlock()
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}

	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < want.Len()+walFillGap {
		t.Fatalf("file is %d bytes for %d written: not filled ahead", len(got), want.Len())
	}
	if zeroed <= int64(want.Len()) {
		t.Errorf("zeroed up to %d, at or behind the head %d", zeroed, want.Len())
	}
	if !bytes.Equal(got[:want.Len()], want.Bytes()) {
		for i := range want.Len() {
			if got[i] != want.Bytes()[i] {
				t.Fatalf("written bytes differ from offset %d (got %#x, want %#x)", i, got[i], want.Bytes()[i])
			}
		}
	}
	if tail := got[want.Len():]; bytes.Count(tail, []byte{0}) != len(tail) {
		t.Errorf("the %d bytes after the head are not all zero", len(tail))
	}
}

// TestZeroFillRecycled: a recycled file is written from its start and its
// old bytes count as filled; the filler extends it only when the head
// nears its end.
func TestZeroFillRecycled(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "000002.log")
	old := bytes.Repeat([]byte{7}, 3*walFillAhead)
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := vfs.Default.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	z := newZeroFillFile(f, int64(len(old)))
	if _, err := z.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	z.mu.Lock()
	idle := z.filling == nil && z.zeroed == int64(len(old))
	z.mu.Unlock()
	if !idle {
		t.Error("a fill started with the head far from the end of a recycled file")
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if len(got) != len(old) || string(got[:3]) != "abc" || got[3] != 7 {
		t.Errorf("recycled file after one write: %d bytes, starts %q", len(got), got[:4])
	}
}

// TestZeroFilledWALsReplay writes jobs across many WAL rotations (a small
// memtable) and then opens what a crash at that moment leaves (Pebble's
// crashable in-memory file system, keeping only what was synced):
// zero-filled tails on the newest log and on older ones. Every
// acknowledged job is there.
func TestZeroFilledWALsReplay(t *testing.T) {
	t.Parallel()
	fs := vfs.NewCrashableMem()
	opts := Options{FS: fs, MemTableSize: 1 << 20, Logger: quietLogger(), forceZeroFill: true}
	st, err := Open("data", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 6000
	ids := make([]store.ID, 0, n)
	for i := range n / 100 {
		jobs := make([]store.InsertJob, 100)
		for k := range jobs {
			jobs[k] = store.InsertJob{Kind: "k", Args: fmt.Appendf(nil, `{"i":%d,"pad":"%0300d"}`, i*100+k, 0),
				Queue: "default", Priority: 2, MaxAttempts: 3}
		}
		for _, r := range insert(t, st, jobs...) {
			ids = append(ids, r.Job.ID)
		}
	}

	image := fs.CrashClone(vfs.CrashCloneCfg{})
	names, err := image.List("data")
	if err != nil {
		t.Fatal(err)
	}
	var logs, filled int
	for _, name := range names {
		if !strings.HasSuffix(name, ".log") {
			continue
		}
		logs++
		if data := readAll(t, image, image.PathJoin("data", name)); len(data) > walFillGap && data[len(data)-1] == 0 {
			filled++
		}
	}
	if filled == 0 {
		t.Fatalf("none of %d WAL files ends in zeros: the test does not cover zero-filled logs", logs)
	}

	opts.FS = image
	after, err := Open("data", opts)
	if err != nil {
		t.Fatalf("open the crash image: %v", err)
	}
	defer after.Close()
	q, err := after.QueueGet(context.Background(), &store.QueueGetParams{Name: "default", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if cnt := q.Counts[store.StateAvailable]; cnt != n {
		t.Fatalf("crash image holds %d jobs, want %d", cnt, n)
	}
	for _, id := range []store.ID{ids[0], ids[n/2], ids[n-1]} {
		if _, err := after.JobGet(context.Background(), &store.JobGetParams{ID: id}); err != nil {
			t.Errorf("job %s: %v", id, err)
		}
	}
}

func readAll(t *testing.T, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
