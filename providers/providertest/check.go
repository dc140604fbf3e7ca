// The assertions that every provider package's tests share: exact errors of
// a given class, and parsed notifications that match and would pass the
// pipeline's own checks.

package providertest

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
)

// CheckError fails unless err is nil when want is empty, or else has the
// exact message want and wraps class (callbacks.ErrSignature, ErrMalformed…).
func CheckError(tb testing.TB, err error, want string, class error) {
	tb.Helper()
	if want == "" {
		if err != nil {
			tb.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || err.Error() != want || !errors.Is(err, class) {
		tb.Fatalf("error %v, want %q wrapping %q", err, want, class)
	}
}

// CheckNotifications compares parsed notifications with want and checks
// that each passes Notification.Validate, as the pipeline will require.
func CheckNotifications(tb testing.TB, want, got []callbacks.Notification, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("notifications (-want +got):\n%s", diff)
	}
	for _, n := range got {
		if err := n.Validate(); err != nil {
			tb.Errorf("the pipeline would refuse %s: %v", n.TxnID, err)
		}
	}
}
