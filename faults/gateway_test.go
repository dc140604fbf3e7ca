//go:build faults

package faults_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildGateway builds ./cmd/gateway into dir, as `go build` does.
func buildGateway(t *testing.T, dir string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if !fileExists(filepath.Join(root, "go.mod")) {
		t.Fatalf("%s has no go.mod: run the harness from its package directory (go test ./faults/)", root)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if goroot := os.Getenv("GOROOT"); goroot != "" {
			goBin = filepath.Join(goroot, "bin", "go")
		} else {
			t.Fatalf("go is not on PATH: %v", err)
		}
	}
	bin := filepath.Join(dir, "gateway")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/gateway")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gateway: %v\n%s", err, out)
	}
	return bin
}

// replica is one gateway process on a fixed address; it may be killed and
// started again any number of times.
type replica struct {
	id     int
	bin    string
	env    []string
	url    string
	logDir string

	mu          sync.Mutex
	proc        *process
	incarnation int
}

func newReplica(t *testing.T, id int, bin, logDir string, env map[string]string) *replica {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env["GATEWAY_HTTP_ADDR"] = addr
	var list []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			list = append(list, kv)
		}
	}
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	return &replica{id: id, bin: bin, env: list, url: "http://" + addr, logDir: logDir}
}

var probe = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// start runs the gateway and waits until /healthz answers; an error if the
// process exits first (the database may be down) or does not come up.
func (r *replica) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.incarnation++
	log := filepath.Join(r.logDir, fmt.Sprintf("replica%d-%03d.log", r.id, r.incarnation))
	p, err := startProcess(r.bin, []string{"serve"}, r.env, log)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p.exited() {
			b, _ := os.ReadFile(log)
			return fmt.Errorf("replica %d exited at start (%v): %s", r.id, p.err, tail(string(b), 3))
		}
		if resp, err := probe.Get(r.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				r.proc = p
				return nil
			}
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("replica %d did not answer /healthz in 30s", r.id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill is a crash at whatever moment: SIGKILL.
func (r *replica) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.kill()
		r.proc = nil
	}
}

// stop is the graceful shutdown (SIGTERM): it must exit cleanly.
func (r *replica) stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	err := r.proc.stop(60 * time.Second)
	r.proc = nil
	return err
}

// logs returns everything every incarnation of the replica wrote.
func (r *replica) logs() string {
	files, _ := filepath.Glob(filepath.Join(r.logDir, fmt.Sprintf("replica%d-*.log", r.id)))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}
