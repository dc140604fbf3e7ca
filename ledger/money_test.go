package ledger_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"gateway/ledger"
)

func TestExponent(t *testing.T) {
	for _, tc := range []struct {
		currency string
		exp      int
		ok       bool
	}{
		{"USD", 2, true}, {"EUR", 2, true}, {"CNY", 2, true}, {"JPY", 0, true}, {"KRW", 0, true},
		{"KWD", 3, true}, {"BHD", 3, true}, {"CLF", 4, true}, {"usd", 0, false}, {"XXX", 0, false}, {"", 0, false},
	} {
		exp, ok := ledger.Exponent(tc.currency)
		if exp != tc.exp || ok != tc.ok {
			t.Errorf("Exponent(%q) = %d, %v; want %d, %v", tc.currency, exp, ok, tc.exp, tc.ok)
		}
		if got := ledger.ValidCurrency(tc.currency); got != tc.ok {
			t.Errorf("ValidCurrency(%q) = %v, want %v", tc.currency, got, tc.ok)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in, currency string
		want         int64
		// wantErr is the exact message; every error wraps ErrInvalid.
		wantErr string
	}{
		{in: "12.34", currency: "USD", want: 1234},
		{in: "12.3", currency: "USD", want: 1230},
		{in: "12", currency: "USD", want: 1200},
		{in: "0", currency: "USD", want: 0},
		{in: "0.01", currency: "USD", want: 1},
		{in: "007.50", currency: "EUR", want: 750},
		{in: "1234", currency: "JPY", want: 1234},
		{in: "1.234", currency: "KWD", want: 1234},
		{in: "1.2", currency: "KWD", want: 1200},
		{in: "0.0001", currency: "CLF", want: 1},
		{in: "10000000000000", currency: "USD", want: 1e15},       // the largest amount an order may have
		{in: "999999999999.999", currency: "KWD", want: 1e15 - 1}, // 3 decimals, still inside
		{in: "12.345", currency: "USD", wantErr: `invalid input: amount "12.345" has more than 2 decimals for USD`},
		{in: "12.5", currency: "JPY", wantErr: `invalid input: amount "12.5" has more than 0 decimals for JPY`},
		{in: "1.2345", currency: "KWD", wantErr: `invalid input: amount "1.2345" has more than 3 decimals for KWD`},
		{in: "-1", currency: "USD", wantErr: `invalid input: malformed amount "-1"`},
		{in: "+1", currency: "USD", wantErr: `invalid input: malformed amount "+1"`},
		{in: "1e3", currency: "USD", wantErr: `invalid input: malformed amount "1e3"`},
		{in: " 1", currency: "USD", wantErr: `invalid input: malformed amount " 1"`},
		{in: "1 ", currency: "USD", wantErr: `invalid input: malformed amount "1 "`},
		{in: "", currency: "USD", wantErr: `invalid input: empty amount`},
		{in: ".5", currency: "USD", wantErr: `invalid input: malformed amount ".5"`},
		{in: "5.", currency: "USD", wantErr: `invalid input: malformed amount "5."`},
		{in: ".", currency: "USD", wantErr: `invalid input: malformed amount "."`},
		{in: "1.2.3", currency: "KWD", wantErr: `invalid input: malformed amount "1.2.3"`},
		{in: "1,000.00", currency: "USD", wantErr: `invalid input: malformed amount "1,000.00"`},
		{in: "1_000", currency: "USD", wantErr: `invalid input: malformed amount "1_000"`},
		{in: "0x10", currency: "USD", wantErr: `invalid input: malformed amount "0x10"`},
		{in: "NaN", currency: "USD", wantErr: `invalid input: malformed amount "NaN"`},
		{in: "١٢", currency: "USD", wantErr: `invalid input: malformed amount "١٢"`},       // Arabic-Indic digits
		{in: "１２.３４", currency: "USD", wantErr: `invalid input: malformed amount "１２.３４"`}, // full-width digits
		{in: "10000000000000.01", currency: "USD", wantErr: `invalid input: amount "10000000000000.01" is too large`},
		{in: "9223372036854775807", currency: "JPY", wantErr: `invalid input: amount "9223372036854775807" is too large`},
		{in: "999999999999999.9999", currency: "CLF", wantErr: `invalid input: amount "999999999999999.9999" is too large`},
		{in: strings.Repeat("9", 1000), currency: "USD", wantErr: `invalid input: amount "` + strings.Repeat("9", 1000) + `" is too large`},
		{in: "12.34", currency: "usd", wantErr: `invalid input: unknown currency "usd"`},
		{in: "12.34", currency: "", wantErr: `invalid input: unknown currency ""`},
	} {
		t.Run(tc.in+" "+tc.currency, func(t *testing.T) {
			got, err := ledger.ParseDecimal(tc.in, tc.currency)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ledger.ErrInvalid) {
					t.Fatalf("ParseDecimal(%q, %s) = %d, %v; want error %q wrapping ErrInvalid", tc.in, tc.currency, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseDecimal(%q, %s) = %d, %v; want %d", tc.in, tc.currency, got, err, tc.want)
			}
		})
	}
}

func TestFormatDecimal(t *testing.T) {
	for _, tc := range []struct {
		amount   int64
		currency string
		want     string
	}{
		{1234, "USD", "12.34"},
		{1230, "USD", "12.30"},
		{5, "USD", "0.05"},
		{0, "USD", "0.00"},
		{-1, "USD", "-0.01"},
		{-1234, "EUR", "-12.34"},
		{1234, "JPY", "1234"},
		{-7, "JPY", "-7"},
		{1234, "KWD", "1.234"},
		{5, "KWD", "0.005"},
		{1, "CLF", "0.0001"},
		{math.MaxInt64, "USD", "92233720368547758.07"},
		{math.MinInt64, "USD", "-92233720368547758.08"},
		{math.MinInt64, "KWD", "-9223372036854775.808"},
		{1234, "XXX", "1234"}, // unknown currency: the integer as it is
	} {
		if got := ledger.FormatDecimal(tc.amount, tc.currency); got != tc.want {
			t.Errorf("FormatDecimal(%d, %s) = %q, want %q", tc.amount, tc.currency, got, tc.want)
		}
	}
}

func TestMoneyString(t *testing.T) {
	if got := (ledger.Money{Amount: 1234, Currency: "USD"}).String(); got != "1234 USD" {
		t.Errorf("Money.String() = %q", got)
	}
}

// FuzzParseDecimal: ParseDecimal never panics, never returns a negative or
// out-of-range amount, and what it accepts formats back to a string that
// parses to the same amount (and is the input but for leading zeros and
// trailing decimal zeros).
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"12.34", "12.3", "0", "0.001", "1e3", "-1", ".5", "5.", "", " 1", "١٢", "999999999999999", "007.50"} {
		f.Add(s, uint8(0))
	}
	currencies := []string{"USD", "JPY", "KWD", "CLF", "EUR"}
	f.Fuzz(func(t *testing.T, s string, c uint8) {
		currency := currencies[int(c)%len(currencies)]
		v, err := ledger.ParseDecimal(s, currency)
		if err != nil {
			if !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("ParseDecimal(%q, %s) error %v does not wrap ErrInvalid", s, currency, err)
			}
			return
		}
		if v < 0 || v > 1e15 {
			t.Fatalf("ParseDecimal(%q, %s) = %d, out of range", s, currency, v)
		}
		formatted := ledger.FormatDecimal(v, currency)
		back, err := ledger.ParseDecimal(formatted, currency)
		if err != nil || back != v {
			t.Fatalf("ParseDecimal(FormatDecimal(%d, %s) = %q) = %d, %v", v, currency, formatted, back, err)
		}
		if canonical(s) != canonical(formatted) {
			t.Fatalf("%q (%s) formats as %q", s, currency, formatted)
		}
	})
}

// canonical strips leading integer zeros and trailing decimal zeros.
func canonical(s string) string {
	i, f, _ := strings.Cut(s, ".")
	i = strings.TrimLeft(i, "0")
	f = strings.TrimRight(f, "0")
	return i + "." + f
}
