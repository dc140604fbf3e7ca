// Package query is the small HTTP client that provider packages use to ask
// a provider's API about a transaction: a base URL, a timeout, a signing
// hook, JSON in and out, and errors that say whether a retry may help.
package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrProvider is a non-2xx answer from a provider's API.
var ErrProvider = errors.New("provider API error")

// Client calls one provider API.
type Client struct {
	base string
	http *http.Client
}

// New returns a client for base; a nil hc gets a 10 s timeout.
func New(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimRight(base, "/"), http: hc}
}

// Base is the API base URL.
func (c *Client) Base() string { return c.base }

// maxResponse bounds what is read of an answer.
const maxResponse = 4 << 20

// Response is a provider's answer as it came: status, headers and body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Send sends method path with body, lets sign add headers, and returns the
// answer whatever its status, for providers whose answers are signed or
// whose errors need reading (WeChat Pay, Alipay).
func (c *Client) Send(ctx context.Context, method, path string, body []byte, sign func(*http.Request) error) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if sign != nil {
		if err := sign(req); err != nil {
			return Response{}, fmt.Errorf("sign request: %w", err)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return Response{}, err
	}
	if len(b) > maxResponse {
		// A cut answer must not pass for a whole one.
		return Response{}, fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxResponse)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Do sends method path with body, lets sign add headers, and decodes a 2xx
// JSON answer into out (raw bytes when out is *[]byte).
func (c *Client) Do(ctx context.Context, method, path string, body []byte, sign func(*http.Request) error, out any) error {
	resp, err := c.Send(ctx, method, path, body, sign)
	if err != nil {
		return err
	}
	if resp.Status/100 != 2 {
		return fmt.Errorf("%w: %s %s: %d %s", ErrProvider, method, path, resp.Status, Truncate(resp.Body, 200))
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = resp.Body
		return nil
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Truncate shortens an answer for an error message.
func Truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
