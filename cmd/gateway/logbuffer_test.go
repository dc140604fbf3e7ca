package main

import (
	"strings"
	"testing"
	"time"
)

// Info lines wait for the interval; a warning takes them out at once, and
// closing writes out the rest.
func TestBufferedLogger(t *testing.T) {
	out := &syncBuffer{}
	log, closeLog := newBufferedLogger(out, "info", time.Hour)
	log.With("request_id", "r1").Info("first")
	if out.String() != "" {
		t.Fatalf("an info line was written through: %q", out.String())
	}
	log.Warn("trouble")
	if got := out.String(); !strings.Contains(got, `"msg":"first"`) || !strings.Contains(got, `"msg":"trouble"`) {
		t.Fatalf("after a warning: %q", got)
	}
	log.Info("last")
	closeLog()
	if got := out.String(); !strings.Contains(got, `"msg":"last"`) {
		t.Fatalf("after close: %q", got)
	}

	out = &syncBuffer{}
	log, closeLog = newBufferedLogger(out, "info", 10*time.Millisecond)
	defer closeLog()
	log.Info("soon")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), `"msg":"soon"`) {
		if time.Now().After(deadline) {
			t.Fatal("an info line was not written within the interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
