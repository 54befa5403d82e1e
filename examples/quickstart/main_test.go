package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	t.Parallel()
	outPath := filepath.Join(t.TempDir(), "out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), t.TempDir(), out); err != nil {
		t.Fatal(err)
	}
	out.Close()
	b, _ := os.ReadFile(outPath)
	got := string(b)
	for _, want := range []string{"cat.png: resized to 320px on attempt 1", "dog.png: resized to 640px on attempt 1",
		"flaky.png: attempt 1 failed", "flaky.png: attempt 2 failed", "flaky.png: resized to 100px on attempt 3"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
