package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// client is the load tool's HTTP/1.1 client: keep-alive connections in a
// pool, each request written in one write (its head prepared once, before
// the phase) and each answer read with one buffered reader. net/http's
// client costs this tool ~45 µs of CPU per request (two goroutines per
// connection, header maps, a request clone); this one ~15 µs, so on a
// machine whose two cores the gateway and MariaDB share, the tool takes
// less of them. It speaks plain HTTP/1.1 to one host, which is all the
// tool needs; the gateway still parses every request with net/http.
type client struct {
	addr    string // host:port
	host    string
	idle    chan *conn
	timeout time.Duration
}

type conn struct {
	c net.Conn
	r *bufio.Reader
}

func newClient(base string, conns int) (*client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("loadgen: gateway URL %q: want http://host:port", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr += ":80"
	}
	return &client{addr: addr, host: u.Host, idle: make(chan *conn, conns), timeout: 30 * time.Second}, nil
}

// request is a prepared POST: its head and body, written in one go.
func (c *client) request(path string, header http.Header, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", path, c.host, len(body))
	keys := make([]string, 0, len(header))
	for k := range header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// do writes a prepared request and reads the answer's status and body (at
// most 4 KiB of it is kept). A kept-alive connection the server has closed
// meanwhile (its idle timeout) fails before any answer: the request is
// sent again once on a new connection, as net/http's client does.
func (c *client) do(ctx context.Context, req []byte) (status int, body []byte, err error) {
	status, body, err = c.try(ctx, req, true)
	if errors.Is(err, errStale) {
		status, body, err = c.try(ctx, req, false)
	}
	return status, body, err
}

// errStale: a reused connection failed before the answer began.
var errStale = errors.New("loadgen: kept-alive connection closed by the server")

func (c *client) try(ctx context.Context, req []byte, reuse bool) (status int, body []byte, err error) {
	var cn *conn
	reused := false
	if reuse {
		select {
		case cn = <-c.idle:
			reused = true
		default:
		}
	}
	if cn == nil {
		if cn, err = c.dial(ctx); err != nil {
			return 0, nil, err
		}
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = cn.c.SetDeadline(deadline)
	status, body, keep, began, err := cn.exchange(req)
	if err != nil || !keep {
		cn.c.Close()
		if err != nil && reused && !began {
			err = fmt.Errorf("%w: %w", errStale, err)
		}
		return status, body, err
	}
	c.put(cn)
	return status, body, nil
}

func (c *client) dial(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	return &conn{c: nc, r: bufio.NewReaderSize(nc, 8192)}, nil
}

func (c *client) put(cn *conn) {
	select {
	case c.idle <- cn:
	default:
		cn.c.Close()
	}
}

// close closes the idle connections.
func (c *client) close() {
	for {
		select {
		case cn := <-c.idle:
			cn.c.Close()
		default:
			return
		}
	}
}

// exchange writes req and reads one answer; keep says whether the
// connection may carry the next request, began whether any of the answer
// arrived.
func (cn *conn) exchange(req []byte) (status int, body []byte, keep, began bool, err error) {
	if _, err := cn.c.Write(req); err != nil {
		return 0, nil, false, false, err
	}
	if _, err := cn.r.Peek(1); err != nil {
		return 0, nil, false, false, err
	}
	status, body, keep, err = cn.read()
	return status, body, keep, true, err
}

// read reads one answer from the connection.
func (cn *conn) read() (status int, body []byte, keep bool, err error) {
	tp := textproto.NewReader(cn.r)
	line, err := tp.ReadLine()
	if err != nil {
		return 0, nil, false, err
	}
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(rest) < 3 {
		return 0, nil, false, fmt.Errorf("loadgen: bad status line %q", line)
	}
	if status, err = strconv.Atoi(rest[:3]); err != nil {
		return 0, nil, false, fmt.Errorf("loadgen: bad status line %q", line)
	}
	keep = proto == "HTTP/1.1"
	length, chunked := -1, false
	for {
		h, err := tp.ReadLine()
		if err != nil {
			return 0, nil, false, err
		}
		if h == "" {
			break
		}
		k, v, _ := strings.Cut(h, ":")
		v = strings.TrimSpace(v)
		switch {
		case strings.EqualFold(k, "Content-Length"):
			if length, err = strconv.Atoi(v); err != nil || length < 0 {
				return 0, nil, false, fmt.Errorf("loadgen: bad Content-Length %q", v)
			}
		case strings.EqualFold(k, "Connection") && strings.EqualFold(v, "close"):
			keep = false
		case strings.EqualFold(k, "Transfer-Encoding"):
			chunked = strings.EqualFold(v, "chunked")
		}
	}
	if chunked { // a long answer: read it all, keep the first 4 KiB
		all, err := io.ReadAll(httputil.NewChunkedReader(cn.r))
		if err != nil {
			return 0, nil, false, err
		}
		for { // trailer, up to its empty line
			if h, err := tp.ReadLine(); err != nil || h == "" {
				return status, all[:min(len(all), 4096)], keep && err == nil, nil
			}
		}
	}
	if length < 0 {
		return 0, nil, false, errors.New("loadgen: answer without Content-Length")
	}
	body = make([]byte, min(length, 4096))
	if _, err := io.ReadFull(cn.r, body); err != nil {
		return 0, nil, false, err
	}
	if _, err := cn.r.Discard(length - len(body)); err != nil {
		return 0, nil, false, err
	}
	return status, body, keep, nil
}
