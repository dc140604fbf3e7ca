// Package ledger owns orders, money and the double-entry ledger: the order
// status machine, the postings that a business event produces, and the
// errors that describe why an event cannot apply.
package ledger

import (
	"fmt"
	"strings"
)

// Money is an exact amount in the currency's minor units (cents, fen, yen).
// It is never a float.
type Money struct {
	Amount   int64
	Currency string
}

func (m Money) String() string { return fmt.Sprintf("%d %s", m.Amount, m.Currency) }

// exponents lists ISO-4217 currencies whose minor unit is not 2 decimal places.
var exponents = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// known lists the ISO-4217 codes in use with 2 decimal places; together with
// exponents it is the set of currencies the gateway accepts.
var known = strings.Fields(`AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL
BSD BTN BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL
MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR
PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY
TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWL`)

var currencies = func() map[string]int {
	m := make(map[string]int, len(known)+len(exponents))
	for _, c := range known {
		m[c] = 2
	}
	for c, e := range exponents {
		m[c] = e
	}
	return m
}()

// Exponent returns the number of decimal places of an ISO-4217 currency and
// whether the currency is known.
func Exponent(currency string) (int, bool) {
	e, ok := currencies[currency]
	return e, ok
}

// ValidCurrency reports whether c is an ISO-4217 code the gateway accepts.
func ValidCurrency(c string) bool {
	_, ok := currencies[c]
	return ok
}

// ParseDecimal parses a decimal string such as "12.34" into minor units of
// currency, exactly: "12.3" is 1230 for a 2-decimal currency, "12.345" is an
// error there, and no float is involved. Only ASCII digits and one dot are
// accepted (no sign, exponent, spaces or separators), and the result is at
// most the largest amount an order may have, so it never overflows.
func ParseDecimal(s, currency string) (int64, error) {
	exp, ok := Exponent(currency)
	if !ok {
		return 0, fmt.Errorf("%w: unknown currency %q", ErrInvalid, currency)
	}
	if s == "" {
		return 0, fmt.Errorf("%w: empty amount", ErrInvalid)
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if hasDot && frac == "" || intPart == "" || !digits(intPart) || !digits(frac) {
		return 0, fmt.Errorf("%w: malformed amount %q", ErrInvalid, s)
	}
	if len(frac) > exp {
		return 0, fmt.Errorf("%w: amount %q has more than %d decimals for %s", ErrInvalid, s, exp, currency)
	}
	var v int64
	for _, r := range intPart + frac + strings.Repeat("0", exp-len(frac)) {
		v = v*10 + int64(r-'0') // v <= maxAmount before: no overflow
		if v > maxAmount {
			return 0, fmt.Errorf("%w: amount %q is too large", ErrInvalid, s)
		}
	}
	return v, nil
}

// digits reports whether s is made of ASCII digits only.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatDecimal renders minor units as a decimal string ("1234" USD → "12.34").
func FormatDecimal(amount int64, currency string) string {
	exp, ok := Exponent(currency)
	if !ok || exp == 0 {
		return fmt.Sprint(amount)
	}
	sign, u := "", uint64(amount)
	if amount < 0 {
		sign, u = "-", -u // in uint64, so that math.MinInt64 negates too
	}
	p := uint64(1)
	for range exp {
		p *= 10
	}
	return fmt.Sprintf("%s%d.%0*d", sign, u/p, exp, u%p)
}
