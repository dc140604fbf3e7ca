package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"gateway/submission"
)

// maxJSONBody bounds the JSON bodies of the merchant API.
const maxJSONBody = 64 << 10

// replayedHeaders are the response headers stored with an answer and sent
// again on a replay (the body and status are sent byte for byte).
var replayedHeaders = []string{"Content-Type", "ETag", "Location"}

// idempotent honours the Idempotency-Key header: the first request with a
// key runs and its answer is stored before it is sent; a repeat with the
// same body gets that answer again (with Idempotent-Replayed: true); the
// key with another body is 422; a repeat while the first still runs waits
// briefly, then is 409. Keys are scoped per API principal. Answers of 5xx
// are not stored: the key is released so a retry runs afresh.
func (s *Server) idempotent(c *gin.Context) {
	key := c.GetHeader("Idempotency-Key")
	if key == "" {
		c.Next()
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxJSONBody))
	if err != nil {
		s.fail(c, errTooLarge)
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	ctx := c.Request.Context()
	claim, err := s.submissions.Begin(ctx, c.GetString("principal"), key,
		submission.Fingerprint(c.Request.Method, c.Request.URL.Path, body))
	if err != nil {
		if errors.Is(err, submission.ErrInFlight) {
			c.Header("Retry-After", "1")
		}
		s.fail(c, err)
		return
	}
	if r := claim.Replay; r != nil {
		for _, h := range replayedHeaders {
			if v := r.Header.Get(h); v != "" {
				c.Header(h, v)
			}
		}
		c.Header("Idempotent-Replayed", "true")
		c.Status(r.Status)
		_, _ = c.Writer.Write(r.Body)
		c.Abort()
		return
	}

	w := c.Writer
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	c.Writer = rec
	c.Next()
	c.Writer = w

	// The recording outlives a client that hung up: the answer is decided.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rec.status >= 500 {
		if err := s.submissions.Release(sctx, claim); err != nil {
			logger(c, s.log).Warn("idempotency key not released; it frees itself when its lease ends", "err", err)
		}
		rec.flush(w)
		return
	}
	answer := submission.Response{Status: rec.status, Header: http.Header{}, Body: rec.body.Bytes()}
	for _, h := range replayedHeaders {
		if v := w.Header().Get(h); v != "" {
			answer.Header.Set(h, v)
		}
	}
	if err := s.submissions.Complete(sctx, claim, answer); err != nil {
		if !errors.Is(err, submission.ErrLeaseLost) {
			// Not recorded: say so rather than answer what a retry might
			// not see. The retry runs again; the order number keeps it safe.
			_ = s.submissions.Release(sctx, claim)
			for _, h := range replayedHeaders {
				w.Header().Del(h)
			}
			s.fail(c, err)
			return
		}
		logger(c, s.log).Warn("idempotency key taken over while this request ran", "err", err)
	}
	rec.flush(w)
}

// recorder holds a handler's answer until it is stored. Headers go to the
// real writer's map; status and body wait.
type recorder struct {
	gin.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if code > 0 {
		r.status = code
	}
}
func (r *recorder) WriteHeaderNow()                   {}
func (r *recorder) Write(b []byte) (int, error)       { return r.body.Write(b) }
func (r *recorder) WriteString(s string) (int, error) { return r.body.WriteString(s) }
func (r *recorder) Status() int                       { return r.status }
func (r *recorder) Size() int                         { return r.body.Len() }
func (r *recorder) Written() bool                     { return r.body.Len() > 0 }

func (r *recorder) flush(w gin.ResponseWriter) {
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body.Bytes())
}

// tokenJSON is the answer of POST /api/tokens.
type tokenJSON struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createToken is POST /api/tokens: a one-time form token for the caller.
func (s *Server) createToken(c *gin.Context) {
	t, err := s.submissions.IssueToken(c.Request.Context(), c.GetString("principal"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, tokenJSON{Token: t.Value, ExpiresAt: t.ExpiresAt})
}
