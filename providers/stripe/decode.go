package stripe

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"gateway/callbacks"
)

// event is what Parse reads of a Stripe event.
type event struct {
	ID, Type string
	Data     struct{ Object object }
}

// object is what Parse reads of data.object (a PaymentIntent or a Charge).
type object struct {
	ID, Object, Currency, Status                           string
	Amount, AmountReceived, AmountCaptured, AmountRefunded int64
	Captured                                               bool
	// PaymentIntent is payment_intent's id, given as a string or as an
	// expanded object.
	PaymentIntent string
	Metadata      map[string]string
}

// decodeEvent reads an event in one validating pass and one walk over the
// keys it needs (gjson), about a third of encoding/json's cost — a
// duplicate callback's largest item after HTTP itself. It is as strict
// about types as encoding/json into typed fields: a string where a number
// belongs, a fraction in an amount, a number in metadata are malformed.
// Keys match exactly (Stripe's are lower case; encoding/json would also
// take "ID" for "id"); a repeated key, a null, decode as with encoding/json.
func decodeEvent(body []byte) (event, error) {
	var ev event
	if !utf8.Valid(body) {
		return ev, fmt.Errorf("%w: stripe event is not valid UTF-8", callbacks.ErrMalformed)
	}
	if !gjson.ValidBytes(body) {
		return ev, fmt.Errorf("%w: stripe event is not valid JSON", callbacks.ErrMalformed)
	}
	d := decoder{}
	root := gjson.ParseBytes(body)
	d.object(root, "event", func(k string, v gjson.Result) {
		switch k {
		case "id":
			d.str(v, k, &ev.ID)
		case "type":
			d.str(v, k, &ev.Type)
		case "data":
			d.object(v, k, func(k string, v gjson.Result) {
				if k == "object" {
					d.dataObject(v, &ev.Data.Object)
				}
			})
		}
	})
	return ev, d.err
}

// decoder keeps the first type error of a walk.
type decoder struct{ err error }

func (d *decoder) fail(what, want string, v gjson.Result) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: stripe event: %s is %s, want %s", callbacks.ErrMalformed, what, kindOf(v), want)
	}
}

// object calls each for the keys of v, an object or null.
func (d *decoder) object(v gjson.Result, what string, each func(k string, v gjson.Result)) {
	switch {
	case v.Type == gjson.Null:
	case v.IsObject():
		v.ForEach(func(k, v gjson.Result) bool {
			each(k.Str, v)
			return d.err == nil
		})
	default:
		d.fail(what, "an object", v)
	}
}

// str, int and bool set *p from v; a null leaves *p as it is, as
// encoding/json does.
func (d *decoder) str(v gjson.Result, what string, p *string) {
	switch v.Type {
	case gjson.Null:
	case gjson.String:
		*p = v.Str
	default:
		d.fail(what, "a string", v)
	}
}

func (d *decoder) int(v gjson.Result, what string, p *int64) {
	if v.Type == gjson.Null {
		return
	}
	if v.Type == gjson.Number {
		if n, err := strconv.ParseInt(v.Raw, 10, 64); err == nil {
			*p = n
			return
		}
	}
	d.fail(what, "an integer", v)
}

func (d *decoder) bool(v gjson.Result, what string, p *bool) {
	switch v.Type {
	case gjson.Null:
	case gjson.True, gjson.False:
		*p = v.Bool()
	default:
		d.fail(what, "true or false", v)
	}
}

// dataObject decodes v into o; a repeated key decodes into the same o.
func (d *decoder) dataObject(v gjson.Result, o *object) {
	d.object(v, "data.object", func(k string, v gjson.Result) {
		switch k {
		case "id":
			d.str(v, k, &o.ID)
		case "object":
			d.str(v, k, &o.Object)
		case "currency":
			d.str(v, k, &o.Currency)
		case "status":
			d.str(v, k, &o.Status)
		case "amount":
			d.int(v, k, &o.Amount)
		case "amount_received":
			d.int(v, k, &o.AmountReceived)
		case "amount_captured":
			d.int(v, k, &o.AmountCaptured)
		case "amount_refunded":
			d.int(v, k, &o.AmountRefunded)
		case "captured":
			d.bool(v, k, &o.Captured)
		case "payment_intent":
			o.PaymentIntent = ""
			switch {
			case v.Type == gjson.String:
				o.PaymentIntent = v.Str
			case v.IsObject():
				if id := v.Get("id"); id.Type == gjson.String {
					o.PaymentIntent = id.Str
				}
			}
		case "metadata":
			if v.Type == gjson.Null {
				o.Metadata = nil
				return
			}
			if o.Metadata == nil && v.IsObject() {
				o.Metadata = map[string]string{}
			}
			d.object(v, "metadata", func(k string, v gjson.Result) {
				var s string
				d.str(v, "metadata."+k, &s)
				o.Metadata[k] = s
			})
		}
	})
}

func kindOf(v gjson.Result) string {
	switch {
	case v.IsObject():
		return "an object"
	case v.IsArray():
		return "an array"
	case v.Type == gjson.String:
		return "a string"
	case v.Type == gjson.Number:
		return "the number " + v.Raw
	case v.Type == gjson.True, v.Type == gjson.False:
		return "a boolean"
	}
	return "null"
}
