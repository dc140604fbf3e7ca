package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gopkg.in/yaml.v3"
)

// child is a gateway process this tool started.
type child struct {
	URL     string
	LogPath string
	cmd     *exec.Cmd
	done    chan error
}

// childConfig is what the child gateway is configured with.
type childConfig struct {
	DSN, APIToken, StripeSecret, SWSecret, LogLevel string
	MaxOpenConns                                    int
	Env                                             []string // GATEWAY_* settings on top of the file
}

// buildGateway compiles cmd/gateway of the module this tool is run from
// into dir and returns the binary's path.
func buildGateway(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("loadgen: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("loadgen: not inside the gateway module: run from the repository or pass --gateway-bin")
	}
	bin := filepath.Join(dir, "gateway")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gateway")
	cmd.Dir = filepath.Dir(mod)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("loadgen: go build ./cmd/gateway: %w\n%s", err, msg)
	}
	return bin, nil
}

// startGateway runs bin serve with a configuration file written to dir,
// listening on a free loopback port, and waits until /readyz answers.
// Its output goes to gateway.log in dir.
func startGateway(ctx context.Context, bin, dir string, c childConfig) (*child, error) {
	providers := map[string]any{"stripe": map[string]any{"webhook_secrets": []string{c.StripeSecret}}}
	if c.SWSecret != "" {
		providers["acme"] = map[string]any{"type": "standardwebhooks", "secrets": []string{c.SWSecret},
			"fields": map[string]string{"txn_id": "data.id", "event_type": "type", "order_no": "data.order_no",
				"amount": "data.amount", "currency": "data.currency"}}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg, err := yaml.Marshal(map[string]any{
		"http":      map[string]any{"addr": addr},
		"database":  map[string]any{"driver": "mysql", "dsn": c.DSN, "max_open_conns": c.MaxOpenConns},
		"auth":      map[string]any{"api_tokens": []string{"loadgen:" + c.APIToken}},
		"providers": providers,
		"log":       map[string]any{"level": c.LogLevel},
	})
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "gateway.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = append(childEnv(os.Environ()), c.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("loadgen: start gateway: %w", err)
	}
	ch := &child{URL: "http://" + addr, LogPath: logPath, cmd: cmd, done: make(chan error, 1)}
	go func() {
		ch.done <- cmd.Wait()
		logf.Close()
	}()
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(ch.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return ch, nil
			}
		}
		select {
		case err := <-ch.done:
			ch.done <- err
			return nil, fmt.Errorf("loadgen: gateway exited at start (%v):\n%s", err, logTail(logPath))
		case <-wait.Done():
			ch.stop()
			return nil, fmt.Errorf("loadgen: gateway not ready at %s:\n%s", ch.URL, logTail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeAddr finds a free loopback port for the child to listen on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// logTail is the end of the child's log, for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// childEnv passes the environment on without GATEWAY_* variables, so the
// child runs on the written configuration (and --gateway-env) only.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			out = append(out, kv)
		}
	}
	return out
}

// PID is the child's process id.
func (c *child) PID() int { return c.cmd.Process.Pid }

// stop sends SIGTERM (a graceful drain), then SIGKILL after 30 s.
func (c *child) stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		return err
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		return fmt.Errorf("loadgen: gateway did not stop within 30s; killed: %v", <-c.done)
	}
}

// memory is a process's resident memory from /proc/<pid>/status, in bytes.
type memory struct {
	RSS, HWM int64 // VmRSS now, VmHWM the peak so far
}

// readMemory reads /proc/<pid>/status.
func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	return parseStatus(b)
}

// parseStatus reads VmRSS and VmHWM ("VmRSS:\t  12345 kB") from the text of
// /proc/<pid>/status.
func parseStatus(b []byte) (memory, error) {
	var m memory
	var seen int
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(k) {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		f := strings.Fields(string(v))
		if len(f) != 2 || f[1] != "kB" {
			return memory{}, fmt.Errorf("loadgen: /proc status line %q", line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("loadgen: /proc status line %q", line)
		}
		*dst = n << 10
		seen++
	}
	if seen != 2 {
		return memory{}, errors.New("loadgen: no VmRSS/VmHWM in /proc status")
	}
	return m, nil
}

// rssSampler records the largest VmRSS of a process while it runs.
type rssSampler struct {
	pid  int
	mu   sync.Mutex
	max  int64
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := readMemory(pid); err == nil {
				s.mu.Lock()
				s.max = max(s.max, m.RSS)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the largest VmRSS seen.
func (s *rssSampler) Stop() int64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

// createDatabase makes a fresh database on the server and returns its DSN.
func createDatabase(ctx context.Context, server string) (dsn, name string, err error) {
	cfg, err := gomysql.ParseDSN(server)
	if err != nil {
		return "", "", fmt.Errorf("loadgen: --mysql: %w", err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", "", err
	}
	defer admin.Close()
	var b [5]byte
	_, _ = rand.Read(b[:])
	name = "loadgen_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		return "", "", fmt.Errorf("loadgen: create database on %s: %w", cfg.Addr, err)
	}
	cfg.DBName = name
	return cfg.FormatDSN(), name, nil
}

// dropDatabase removes a database createDatabase made.
func dropDatabase(server, name string) error {
	cfg, err := gomysql.ParseDSN(server)
	if err != nil {
		return err
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer admin.Close()
	_, err = admin.Exec("DROP DATABASE IF EXISTS " + name)
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
