package httpapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"gateway/callbacks"
)

// callbackTimeout bounds one delivery's work once it has started; it does
// not follow the client's connection, so a provider hanging up mid-commit
// does not turn a committed effect into an unknown one.
const callbackTimeout = 20 * time.Second

// callback is POST /callbacks/{provider}: raw bytes in, the provider's own
// acknowledgement out.
func (s *Server) callback(c *gin.Context) {
	name := c.Param("provider")
	p, ok := s.callbacks.Provider(name)
	if !ok {
		s.fail(c, callbacks.ErrUnknownProvider)
		return
	}
	if addr, ok := s.ips.permits(name, c.Request); !ok {
		logger(c, s.log).Warn("callback refused: sender address not in allow_ips", "provider", name, "addr", addr.String())
		s.fail(c, errAddrNotAllowed)
		return
	}
	body, err := readBody(c, s.maxBodyBytes)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeAck(c, p.Ack(callbacks.ErrMalformed), http.StatusRequestEntityTooLarge)
			return
		}
		writeAck(c, p.Ack(callbacks.ErrTransient), 0)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), callbackTimeout)
	defer cancel()
	ack, outs, err := s.callbacks.Handle(ctx, callbacks.Inbound{Provider: name, Header: c.Request.Header, Body: body})
	logAttrs(c, slog.String("provider", name))
	if len(outs) == 1 { // the common delivery: its outcome goes on the access line
		o := outs[0]
		logAttrs(c, slog.String("txn_id", o.Receipt.TxnID), slog.Int64("receipt", o.Receipt.ID),
			slog.String("receipt_status", string(o.Receipt.Status)), slog.Bool("duplicate", o.Duplicate))
	} else {
		for _, o := range outs { // a batch (Adyen): a line per notification
			logger(c, s.log).Info("callback", "provider", name, "txn_id", o.Receipt.TxnID, "receipt", o.Receipt.ID,
				"status", o.Receipt.Status, "duplicate", o.Duplicate)
		}
	}
	if err != nil {
		logger(c, s.log).Warn("callback refused", "provider", name, "code", callbacks.Code(err), "err", err)
	}
	writeAck(c, ack, 0)
}

// readBody reads the request body, at most limit bytes, into one buffer
// sized from Content-Length when the sender gave it.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	size := int64(512)
	if n := c.Request.ContentLength; n > 0 && n <= limit {
		size += n
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	return buf.Bytes(), err
}

// writeAck writes the provider's acknowledgement, optionally overriding
// the status (413 for a body over the limit).
func writeAck(c *gin.Context, a callbacks.Ack, status int) {
	if status == 0 {
		status = a.Status
	}
	if a.ContentType != "" {
		c.Header("Content-Type", a.ContentType)
	}
	c.Status(status)
	_, _ = c.Writer.Write(a.Body)
}
