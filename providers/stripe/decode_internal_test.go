package stripe

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"

	"gateway/callbacks"
)

// reference decodes an event with encoding/json into typed fields, as
// Parse did before decodeEvent: the oracle decodeEvent must agree with.
func reference(body []byte) (event, error) {
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			Object struct {
				ID             string            `json:"id"`
				Object         string            `json:"object"`
				Amount         int64             `json:"amount"`
				AmountReceived int64             `json:"amount_received"`
				AmountCaptured int64             `json:"amount_captured"`
				AmountRefunded int64             `json:"amount_refunded"`
				Captured       bool              `json:"captured"`
				Currency       string            `json:"currency"`
				Status         string            `json:"status"`
				PaymentIntent  json.RawMessage   `json:"payment_intent"`
				Metadata       map[string]string `json:"metadata"`
			} `json:"object"`
		} `json:"data"`
	}
	if err := callbacks.DecodeJSON(body, &ev, "stripe event"); err != nil {
		return event{}, err
	}
	o := ev.Data.Object
	out := event{ID: ev.ID, Type: ev.Type}
	out.Data.Object = object{ID: o.ID, Object: o.Object, Currency: o.Currency, Status: o.Status, Amount: o.Amount,
		AmountReceived: o.AmountReceived, AmountCaptured: o.AmountCaptured, AmountRefunded: o.AmountRefunded,
		Captured: o.Captured, Metadata: o.Metadata}
	var s string
	var x struct {
		ID string `json:"id"`
	}
	switch {
	case json.Unmarshal(o.PaymentIntent, &s) == nil:
		out.Data.Object.PaymentIntent = s
	case json.Unmarshal(o.PaymentIntent, &x) == nil:
		out.Data.Object.PaymentIntent = x.ID
	}
	return out, nil
}

// foldable reports whether any object key in v has a byte outside
// lower-case ASCII letters, digits, '_' and '.'.
func foldable(v gjson.Result) bool {
	found := false
	v.ForEach(func(k, v gjson.Result) bool {
		if v.IsObject() || v.IsArray() {
			found = foldable(v)
		}
		for _, c := range []byte(k.Str) {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' {
				found = true
			}
		}
		return !found
	})
	return found
}

func agree(t *testing.T, body []byte) {
	t.Helper()
	want, werr := reference(body)
	got, err := decodeEvent(body)
	if (err != nil) != (werr != nil) {
		t.Fatalf("%s:\ndecodeEvent error %v, encoding/json error %v", body, err, werr)
	}
	if err != nil {
		if !errors.Is(err, callbacks.ErrMalformed) {
			t.Fatalf("%s: error %v is not ErrMalformed", body, err)
		}
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%s:\n(-encoding/json +decodeEvent)\n%s", body, diff)
	}
}

// decodeEvent reads what encoding/json reads, and refuses what it refuses,
// on the sample events and on bodies of the wrong shape or types.
func TestDecodeEventAgrees(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		agree(t, b)
	}
	for _, body := range []string{
		``, `null`, `[]`, `"x"`, `{}`, `{"id":null,"type":null,"data":null}`, `{"id":1}`, `{"type":true}`,
		`{"data":[]}`, `{"data":{"object":"pi_1"}}`, `{"data":{"object":null}}`,
		`{"data":{"object":{"amount":"20"}}}`, `{"data":{"object":{"amount":1.5}}}`, `{"data":{"object":{"amount":1e3}}}`,
		`{"data":{"object":{"amount":99999999999999999999}}}`, `{"data":{"object":{"amount":-7,"captured":null}}}`,
		`{"data":{"object":{"captured":"yes"}}}`, `{"data":{"object":{"metadata":{"order_no":7}}}}`,
		`{"data":{"object":{"metadata":{"order_no":null,"x":"y"}}}}`, `{"data":{"object":{"metadata":[]}}}`,
		`{"data":{"object":{"payment_intent":{"id":"pi_9","amount":3}}}}`, `{"data":{"object":{"payment_intent":{"id":5}}}}`,
		`{"data":{"object":{"payment_intent":7}}}`, `{"data":{"object":{"payment_intent":null}}}`,
		`{"id":"evt_1","id":"evt_2"}`, `{"data":{"object":{"id":"a"}},"data":{"object":{"status":"b"}}}`,
		`{"id":"evt_\u00e9\n","extra":{"deep":[1,{"x":[]}]}}`, `{"id":"evt_1"} trailing`, "{\"id\":\"\xff\"}",
	} {
		agree(t, []byte(body))
	}
}

// FuzzDecodeEvent: on any body whose keys are plain lower-case ASCII
// (encoding/json also matches keys case-insensitively, "ID" for "id" and
// the Kelvin sign for "k", which decodeEvent does not), decodeEvent and
// encoding/json agree.
func FuzzDecodeEvent(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"e","data":{"object":{"amount":1,"payment_intent":{"id":"pi"},"metadata":{"order_no":"o"}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if gjson.ValidBytes(body) && foldable(gjson.ParseBytes(body)) {
			t.Skip("a key encoding/json would fold")
		}
		agree(t, body)
	})
}
