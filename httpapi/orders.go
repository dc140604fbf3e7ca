package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"gateway/ledger"
)

// orderRequest is POST /api/orders.
type orderRequest struct {
	OrderNo     string `json:"order_no"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	Provider    string `json:"provider,omitempty"`
	ProviderRef string `json:"provider_ref,omitempty"`
	// FormToken is a one-time token from POST /api/tokens, consumed with
	// the order.
	FormToken string `json:"form_token,omitempty"`
}

func (r orderRequest) toNewOrder() ledger.NewOrder {
	return ledger.NewOrder{OrderNo: r.OrderNo, Price: ledger.Money{Amount: r.Amount, Currency: r.Currency},
		Provider: r.Provider, ProviderRef: r.ProviderRef}
}

type entryJSON struct {
	Account   string    `json:"account"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	TxnID     string    `json:"txn_id"`
	Provider  string    `json:"provider"`
	CreatedAt time.Time `json:"created_at"`
}

type orderJSON struct {
	OrderNo        string      `json:"order_no"`
	Amount         int64       `json:"amount"`
	Currency       string      `json:"currency"`
	Status         string      `json:"status"`
	Version        int64       `json:"version"`
	PaidAmount     int64       `json:"paid_amount"`
	RefundedAmount int64       `json:"refunded_amount"`
	Provider       string      `json:"provider,omitempty"`
	ProviderRef    string      `json:"provider_ref,omitempty"`
	CreatedAt      time.Time   `json:"created_at"`
	UpdatedAt      time.Time   `json:"updated_at"`
	Ledger         []entryJSON `json:"ledger"`
}

func toOrderJSON(o ledger.Order, entries []ledger.Entry) orderJSON {
	out := orderJSON{OrderNo: o.OrderNo, Amount: o.Price.Amount, Currency: o.Price.Currency, Status: string(o.Status),
		Version: o.Version, PaidAmount: o.PaidAmount, RefundedAmount: o.RefundedAmount, Provider: o.Provider,
		ProviderRef: o.ProviderRef, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Ledger: []entryJSON{}}
	for _, e := range entries {
		out.Ledger = append(out.Ledger, entryJSON{Account: e.Account, Amount: e.Amount, Currency: e.Currency,
			TxnID: e.TxnID, Provider: e.Provider, CreatedAt: e.CreatedAt})
	}
	return out
}

func etag(version int64) string { return strconv.Quote(strconv.FormatInt(version, 10)) }

func (s *Server) createOrder(c *gin.Context) {
	var req orderRequest
	if err := decodeJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	o, _, err := s.submissions.CreateOrder(c.Request.Context(), c.GetString("principal"), req.FormToken, req.toNewOrder())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", etag(o.Version))
	c.Header("Location", "/api/orders/"+o.OrderNo)
	c.JSON(http.StatusCreated, toOrderJSON(o, nil))
}

func (s *Server) getOrder(c *gin.Context) {
	o, entries, err := s.orders.Get(c.Request.Context(), c.Param("order_no"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("ETag", etag(o.Version))
	c.JSON(http.StatusOK, toOrderJSON(o, entries))
}

// transition handles ship, receive and close, each under If-Match.
func (s *Server) transition(to ledger.Status) gin.HandlerFunc {
	return func(c *gin.Context) {
		version, err := ifMatch(c.GetHeader("If-Match"))
		if err != nil {
			s.fail(c, err)
			return
		}
		o, err := s.orders.Transition(c.Request.Context(), c.Param("order_no"), version, to)
		if err != nil {
			s.fail(c, err)
			return
		}
		_, entries, err := s.orders.Get(c.Request.Context(), o.OrderNo)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Header("ETag", etag(o.Version))
		c.JSON(http.StatusOK, toOrderJSON(o, entries))
	}
}

// ifMatch reads the order version from If-Match: bare (3) or the quoted
// ETag that GET returns ("3", also W/"3" as proxies may weaken it). Anything
// else, "*" and lists included, is refused: the version is the point.
func ifMatch(h string) (int64, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, errPrecondition
	}
	v := strings.TrimPrefix(h, "W/")
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || v[0] == '+' {
		return 0, fmt.Errorf("%w: If-Match %q is not an order version (send the ETag of GET, e.g. \"3\")", errBadRequest, h)
	}
	return n, nil
}

// maxJSONBytes bounds a merchant API request body.
const maxJSONBytes = 64 << 10

// decodeJSON reads a bounded JSON body that must be one object of known fields.
func decodeJSON(c *gin.Context, v any) error {
	if ct := c.ContentType(); ct != "application/json" {
		return fmt.Errorf("%w: Content-Type must be application/json", errBadRequest)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxJSONBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("%w: over %d bytes", errTooLarge, maxJSONBytes)
		}
		return fmt.Errorf("%w: reading the body: %v", errBadRequest, err)
	}
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8", errBadRequest)
	}
	dec := newStrictDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON object", errBadRequest)
	}
	return nil
}

func newStrictDecoder(r io.Reader) *json.Decoder {
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	return d
}
