package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"sort"
	"strings"
	"sync"

	gomysql "github.com/go-sql-driver/mysql"
)

// sqlCounter is a TCP relay in front of the MySQL server that counts the
// commands clients send, by kind (SELECT, INSERT, UPDATE, START, COMMIT,
// …): round trips and write transactions per callback, measured on the
// wire, whoever else uses the server. The gateway's DSN interpolates
// parameters, so every statement is a COM_QUERY whose text is readable.
type sqlCounter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	counts map[string]int64
	wg     sync.WaitGroup
}

func startSQLCounter(target string) (*sqlCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &sqlCounter{ln: ln, target: target, counts: map[string]int64{}}
	c.wg.Go(c.accept)
	return c, nil
}

// Addr is where clients connect instead of the server.
func (c *sqlCounter) Addr() string { return c.ln.Addr().String() }

// Close stops accepting; relayed connections end when their client closes.
func (c *sqlCounter) Close() error { return c.ln.Close() }

// Snapshot returns the counts so far.
func (c *sqlCounter) Snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

func (c *sqlCounter) accept() {
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		go c.relay(client)
	}
}

func (c *sqlCounter) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", c.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		_, _ = io.Copy(client, server)
		client.Close()
	}()
	_ = scanCommands(client, server, c.count)
}

func (c *sqlCounter) count(kind string) {
	c.mu.Lock()
	c.counts[kind]++
	c.mu.Unlock()
}

// scanCommands copies MySQL client packets from r to w and calls count
// with the kind of every command: a packet with sequence id 0 starts one
// (handshake and authentication packets have other ids). A COM_QUERY is
// named by its first word (SELECT, INSERT, START, COMMIT, …); other
// commands by their number ("cmd 14" is a ping).
func scanCommands(r io.Reader, w io.Writer, count func(kind string)) error {
	var head [4]byte
	buf := make([]byte, 0, 4096)
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := int(head[0]) | int(head[1])<<8 | int(head[2])<<16
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		if head[3] == 0 && n > 0 {
			count(commandKind(buf))
		}
		if _, err := w.Write(head[:]); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
}

const comQuery = 0x03

func commandKind(payload []byte) string {
	if payload[0] != comQuery {
		return fmt.Sprintf("cmd %d", payload[0])
	}
	q := bytes.TrimLeft(payload[1:], " \t\r\n(")
	end := bytes.IndexAny(q, " \t\r\n(;")
	if end < 0 {
		end = len(q)
	}
	return strings.ToUpper(string(q[:end]))
}

// sqlDelta is what a phase sent to the server.
type sqlDelta map[string]int64

func diffCounts(before, after map[string]int64) sqlDelta {
	d := sqlDelta{}
	for k, v := range after {
		if v-before[k] != 0 {
			d[k] = v - before[k]
		}
	}
	return d
}

// Total is the number of commands, i.e. round trips.
func (d sqlDelta) Total() int64 {
	var n int64
	for _, v := range d {
		n += v
	}
	return n
}

// Writes counts the statements that write or end a write transaction.
func (d sqlDelta) Writes() int64 {
	return d["INSERT"] + d["UPDATE"] + d["DELETE"] + d["REPLACE"] + d["COMMIT"]
}

// per lists kinds per callback: "SELECT 1.00, START 1.00, …".
func (d sqlDelta) per(n int) string {
	if n == 0 {
		return "-"
	}
	kinds := make([]string, 0, len(d))
	for k := range d {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if d[kinds[i]] != d[kinds[j]] {
			return d[kinds[i]] > d[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %.2f", k, float64(d[k])/float64(n))
	}
	return strings.Join(parts, ", ")
}

// withAddr returns dsn with its server address replaced by addr, and the
// address it had.
func withAddr(dsn, addr string) (string, string, error) {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return "", "", fmt.Errorf("loadgen: %w", err)
	}
	was := cfg.Addr
	cfg.Addr = addr
	return cfg.FormatDSN(), was, nil
}
