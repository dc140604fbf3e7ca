//go:build faults

package faults_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

// mariadb is the harness's own MariaDB server, on a datadir and a port of
// its own, so that killing it disturbs no other test (the shared server on
// 3306 is never touched).
type mariadb struct {
	dir  string
	port int
	bin  string
	proc *process
}

// startMariaDB initialises a fresh datadir and starts mariadbd on a free port.
func startMariaDB(t *testing.T) *mariadb {
	t.Helper()
	bin := lookPath(t, "mariadbd", "mysqld")
	install := lookPath(t, "mariadb-install-db", "mysql_install_db")
	// A short path: the socket's name must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "gwfaults-db-")
	if err != nil {
		t.Fatal(err)
	}
	m := &mariadb{dir: dir, bin: bin, port: freePort(t)}
	t.Cleanup(func() {
		if err := m.stop(); err != nil {
			t.Logf("mariadb stop: %v", err)
		}
		os.RemoveAll(dir)
	})
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"),
		"--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", install, err, out)
	}
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
	return m
}

func lookPath(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		if p := "/usr/sbin/" + n; fileExists(p) {
			return p
		}
	}
	t.Fatalf("none of %v is installed: the fault harness needs MariaDB (scripts/test.sh installs it)", names)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// start runs mariadbd and waits until it answers.
func (m *mariadb) start() error {
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(m.dir, "data"),
		"--port=" + fmt.Sprint(m.port), "--bind-address=127.0.0.1", "--socket=" + filepath.Join(m.dir, "sock"),
		"--pid-file=" + filepath.Join(m.dir, "pid"), "--log-error=" + filepath.Join(m.dir, "error.log"),
		"--skip-grant-tables", "--skip-name-resolve", "--max-connections=500"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	p, err := startProcess(m.bin, args, nil, filepath.Join(m.dir, "stdout.log"))
	if err != nil {
		return err
	}
	m.proc = p
	db, err := sql.Open("mysql", m.dsn(""))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("mariadbd exited: %v\n%s", p.err, m.errorLog())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadbd did not answer in 90s: %v\n%s", err, m.errorLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill is a crash: SIGKILL, no shutdown.
func (m *mariadb) kill() { m.proc.kill() }

func (m *mariadb) stop() error {
	if m.proc == nil {
		return nil
	}
	return m.proc.stop(60 * time.Second)
}

func (m *mariadb) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "error.log"))
	return tail(string(b), 20)
}

// dsn is a go-sql-driver DSN for database name ("" for none). The short
// dial timeout keeps a gateway from hanging on a server that is coming up.
func (m *mariadb) dsn(name string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?timeout=3s&readTimeout=20s&writeTimeout=20s", m.port, name)
}

func (m *mariadb) createDatabase(t *testing.T, name string) {
	t.Helper()
	db, err := sql.Open("mysql", m.dsn(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatal(err)
	}
}

// process is a child process that dies with the test binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startProcess(bin string, args, env []string, logPath string) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits; SIGKILL after timeout. It returns the exit
// error of a process that did not stop cleanly.
func (p *process) stop(timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			return fmt.Errorf("exit: %w", p.err)
		}
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("did not stop in %s after SIGTERM", timeout)
	}
}

// freePort asks the kernel for a port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
