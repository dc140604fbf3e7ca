package callbacks

import (
	"encoding/json"
	"errors"
	"net/http"
)

// StatusFor is the HTTP status for a pipeline result, for providers whose
// acknowledgement is "any 2xx": 200 once durable, 4xx for input that can
// never succeed, 503 (retry) for everything else (P1).
func StatusFor(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrSignature):
		return http.StatusUnauthorized
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownProvider):
		return http.StatusNotFound
	default:
		return http.StatusServiceUnavailable
	}
}

// Code is the stable machine-readable code of a pipeline error.
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrSignature):
		return "bad_signature"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrUnknownProvider):
		return "unknown_provider"
	default:
		return "unavailable"
	}
}

// PublicMessage is what a caller may be told about err: the detail for
// input errors, nothing internal for the rest.
func PublicMessage(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrSignature), errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknownProvider):
		return err.Error()
	default:
		return "temporary failure, retry later"
	}
}

// JSONAck is the acknowledgement of providers that accept any 2xx (Stripe,
// Standard Webhooks, PayPal): {"received":true}, or an error object.
func JSONAck(err error) Ack {
	var body []byte
	if err == nil {
		body = []byte(`{"received":true}`)
	} else {
		body, _ = json.Marshal(map[string]any{"error": map[string]string{"code": Code(err), "message": PublicMessage(err)}})
	}
	return Ack{Status: StatusFor(err), ContentType: "application/json; charset=utf-8", Body: body}
}
