package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/ops"
	"gateway/report"
	"gateway/submission"
)

// errorTable maps domain errors to HTTP, once, for the whole API. The
// first match wins; anything unmatched is a 500 with no detail.
var errorTable = []struct {
	err    error
	status int
	code   string
	public bool // whether err's message may be shown
}{
	{ledger.ErrInvalid, http.StatusUnprocessableEntity, "invalid", true},
	{ledger.ErrNotFound, http.StatusNotFound, "order_not_found", true},
	{ledger.ErrExists, http.StatusConflict, "order_exists", true},
	{ledger.ErrVersionConflict, http.StatusPreconditionFailed, "version_conflict", true},
	{ledger.ErrTransition, http.StatusConflict, "invalid_transition", true},
	{callbacks.ErrNotFound, http.StatusNotFound, "receipt_not_found", true},
	{callbacks.ErrUnknownProvider, http.StatusNotFound, "unknown_provider", true},
	{callbacks.ErrSignature, http.StatusUnauthorized, "bad_signature", true},
	{callbacks.ErrMalformed, http.StatusBadRequest, "malformed", true},
	{callbacks.ErrTransient, http.StatusServiceUnavailable, "unavailable", false},
	{submission.ErrInvalidKey, http.StatusBadRequest, "invalid_idempotency_key", true},
	{submission.ErrKeyReused, http.StatusUnprocessableEntity, "idempotency_key_reused", true},
	{submission.ErrInFlight, http.StatusConflict, "idempotency_in_flight", true},
	{submission.ErrTokenUnknown, http.StatusUnprocessableEntity, "token_invalid", true},
	{submission.ErrTokenExpired, http.StatusUnprocessableEntity, "token_expired", true},
	{submission.ErrTokenUsed, http.StatusConflict, "token_used", true},
	{errBadRequest, http.StatusBadRequest, "bad_request", true},
	{errUnauthorized, http.StatusUnauthorized, "unauthorized", true},
	{errForbidden, http.StatusForbidden, "forbidden", true},
	{errPrecondition, http.StatusPreconditionRequired, "precondition_required", true},
	{errTooLarge, http.StatusRequestEntityTooLarge, "too_large", true},
	{errNotFound, http.StatusNotFound, "not_found", true},
	{callbacks.ErrNotReplayable, http.StatusUnprocessableEntity, "not_replayable", true},
	{ops.ErrInvalid, http.StatusBadRequest, "invalid_filter", true},
	{ops.ErrAudit, http.StatusInternalServerError, "audit_failed", true},
	{report.ErrInvalid, http.StatusBadRequest, "invalid_period", true},
	{report.ErrNotFound, http.StatusNotFound, "report_not_found", true},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed", true},
	{errAddrNotAllowed, http.StatusForbidden, "address_not_allowed", true},
	{errLoginRequired, http.StatusUnauthorized, "login_required", true},
	{errCSRF, http.StatusForbidden, "csrf", true},
}

var (
	errBadRequest       = errors.New("bad request")
	errUnauthorized     = errors.New("missing or invalid bearer token")
	errForbidden        = errors.New("this token may not do that")
	errPrecondition     = errors.New("If-Match header with the order version is required")
	errTooLarge         = errors.New("request body too large")
	errNotFound         = errors.New("no such route")
	errMethodNotAllowed = errors.New("method not allowed on this route")
	// The console's refusals (console.go).
	errLoginRequired = errors.New("log in to the console first")
	errCSRF          = errors.New("the form's CSRF token is missing or does not match this session: reload the page and try again")
)

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// toStatus is the one error-to-HTTP mapping.
func toStatus(err error) (int, errorBody) {
	var b errorBody
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			b.Error.Code, b.Error.Message = e.code, e.err.Error()
			if e.public {
				b.Error.Message = err.Error()
			}
			return e.status, b
		}
	}
	b.Error.Code, b.Error.Message = "internal", "internal error"
	return http.StatusInternalServerError, b
}

// fail writes err as JSON and logs what the caller was not told.
func (s *Server) fail(c *gin.Context, err error) {
	status, body := toStatus(err)
	if status >= 500 {
		logger(c, s.log).Error("request failed", "status", status, "err", err)
	}
	c.AbortWithStatusJSON(status, body)
}
