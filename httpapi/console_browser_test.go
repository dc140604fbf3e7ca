package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"gateway/providers/standardwebhooks"
	"gateway/report"
	"gateway/store"
	"gateway/store/storetest"
)

// The console in a real browser: Debian's headless Chromium, driven over
// the DevTools protocol. Run with UPDATE_SCREENSHOTS=1 to write the
// screenshots to docs/screenshots/ (they are always taken and checked).

// chromium finds the browser; without it the test fails (it is skipped
// only under -short): scripts/test.sh installs it.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser test")
	}
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed (apt-get install -y chromium, or run scripts/test.sh); the console's browser test needs it")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1366, 860)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// acmePay delivers a Standard Webhooks payment from the acme provider.
func (g *gateway) acmePay(t *testing.T, ref, orderNo string, amount int64) {
	t.Helper()
	body := fmt.Appendf(nil, `{"type":"payment.succeeded","data":{"id":%q,"order_no":%q,"amount":%d,"currency":"EUR"}}`, ref, orderNo, amount)
	id := "msg_" + ref
	sig, err := standardwebhooks.Sign(acmeSecret, id, g.Clock.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	resp, b := g.do(t, http.MethodPost, "/callbacks/acme", "", body, "Content-Type", "application/json", "Webhook-Id", id,
		"Webhook-Timestamp", fmt.Sprint(g.Clock.Now().Unix()), "Webhook-Signature", sig)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("acme callback %s: %d %s", ref, resp.StatusCode, b)
	}
}

// busyDay is a day of traffic for the screenshots: a day of Stripe and
// acme payments, mostly applied, some rejected, some delivered twice, with
// consoleData's unknown and escalated receipts at its end. It returns the
// unknown receipt's id.
func busyDay(t *testing.T, g *gateway, db *store.DB) int64 {
	t.Helper()
	for i := range 40 {
		switch {
		case i%9 == 4:
			g.Order(t, fmt.Sprintf("S-%02d", i), 1500, "USD")
			g.callback(t, pay(fmt.Sprintf("S-%02d", i), 1499)) // rejected: amount mismatch
		case i%3 == 0:
			g.Order(t, fmt.Sprintf("A-%02d", i), int64(800+100*i), "EUR")
			g.acmePay(t, fmt.Sprintf("acme_%02d", i), fmt.Sprintf("A-%02d", i), int64(800+100*i))
		default:
			g.Order(t, fmt.Sprintf("S-%02d", i), int64(1000+250*(i%5)), "USD")
			g.callback(t, pay(fmt.Sprintf("S-%02d", i), int64(1000+250*(i%5))))
			if i%4 == 1 {
				g.callback(t, pay(fmt.Sprintf("S-%02d", i), int64(1000+250*(i%5)))) // a duplicate delivery
			}
		}
		g.Clock.Add(time.Duration(15+i%4*10) * time.Minute)
	}
	return consoleData(t, g, db)
}

type browserRun struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots []string
	save  bool
}

func (b *browserRun) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

// click clicks and waits for the page it loads.
func (b *browserRun) click(sel string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
}

func (b *browserRun) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *browserRun) eval(js string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return n
}

func (b *browserRun) location() string {
	b.t.Helper()
	l, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(l, b.base)
}

// shot takes a full-page screenshot, checks that it shows a rendered page
// (a PNG of the viewport's width with many colours), and writes it to
// docs/screenshots when asked to.
func (b *browserRun) shot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if w := img.Bounds().Dx(); w < 1280 || w > 1366 { // less a scroll bar
		b.t.Errorf("screenshot %s is %d pixels wide, want the viewport's 1366", name, w)
	}
	if n := colours(img); n < 12 {
		b.t.Errorf("screenshot %s has %d colours: nothing rendered?", name, n)
	}
	file := fmt.Sprintf("%02d-%s.png", len(b.shots)+1, name)
	b.shots = append(b.shots, file)
	if b.save {
		dir := filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), buf, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// colours counts the distinct colours of a sample of pixels.
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 7 {
		for x := r.Min.X; x < r.Max.X; x += 5 {
			c0, c1, c2, c3 := img.At(x, y).RGBA()
			seen[[4]uint32{c0, c1, c2, c3}] = true
		}
	}
	return len(seen)
}

func TestConsoleInChromium(t *testing.T) {
	path := chromium(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		id := busyDay(t, g, db)
		waitDeliveries(t, db, 6)
		b := &browserRun{t: t, ctx: newBrowser(t, path), base: g.srv.URL,
			save: os.Getenv("UPDATE_SCREENSHOTS") == "1" && db.Dialect() == "sqlite"}

		// Log in: the console sends a browser without a session to the form.
		b.do(chromedp.Navigate(g.srv.URL + "/admin/ui/"))
		if l := b.location(); l != "/admin/ui/login?next=%2Fadmin%2Fui%2F" {
			t.Fatalf("without a session: at %s, want the login form", l)
		}
		b.shot("login")
		b.do(chromedp.SendKeys(chromedp.ID("token"), "not-the-admin-token"))
		b.click("#login")
		if msg := b.text("#error"); msg != "That is not an admin token." {
			t.Errorf("wrong token: %q", msg)
		}
		b.do(chromedp.SetValue(chromedp.ID("token"), adminToken))
		b.click("#login")
		if l := b.location(); l != "/admin/ui/" {
			t.Fatalf("after login: at %s", l)
		}

		// Overview: the chart, the backlog, the escalated count.
		if got := []string{b.text("#unknown-total"), b.text("#escalated-total"), b.text(".who")}; !cmp.Equal(got, []string{"1", "1", "ops"}) {
			t.Errorf("overview: unknown, escalated, who = %v", got)
		}
		if n := b.eval(`document.querySelectorAll("figure.chart svg rect").length`); n < 20 {
			t.Errorf("%d bars in the charts", n)
		}
		if n := b.eval(`document.querySelectorAll("figure.chart").length`); n != 2 {
			t.Errorf("%d charts, want stripe and acme", n)
		}
		if n := b.eval(`document.scripts.length`); n != 0 {
			t.Errorf("%d scripts on the overview", n)
		}
		b.shot("overview")

		// Receipts: filter by status and provider with the form.
		b.click(`header nav a[href="/admin/ui/receipts"]`)
		if n := b.eval(`document.querySelectorAll("a.receipt-link").length`); n != 44 {
			t.Errorf("all receipts: %d listed, want 44", n)
		}
		b.do(chromedp.SetValue(chromedp.ID("f-status"), "unknown"), chromedp.SetValue(chromedp.ID("f-provider"), "stripe"))
		b.click("#filter")
		if l := b.location(); !strings.Contains(l, "status=unknown") || !strings.Contains(l, "provider=stripe") {
			t.Errorf("filtered at %s", l)
		}
		if n := b.eval(`document.querySelectorAll("a.receipt-link").length`); n != 1 {
			t.Fatalf("%d unknown stripe receipts listed, want 1", n)
		}
		b.do(chromedp.SetValue(chromedp.ID("f-status"), ""), chromedp.SetValue(chromedp.ID("f-provider"), ""))
		b.click("#filter")
		b.shot("receipts")
		b.do(chromedp.SetValue(chromedp.ID("f-status"), "unknown"))
		b.click("#filter")

		// The receipt: raw body, headers, its order.
		b.click("a.receipt-link")
		if l := b.location(); l != fmt.Sprintf("/admin/ui/receipts/%d", id) {
			t.Fatalf("receipt page at %s", l)
		}
		if body := b.text("#raw-body"); body != string(pay("C-200", 2500).Body()) {
			t.Errorf("raw body shown: %s", body)
		}
		if st := b.text("#order-status"); st != "created" {
			t.Errorf("order status %q", st)
		}
		if h := b.text("#headers"); !strings.Contains(h, "Stripe-Signature") {
			t.Errorf("headers: %s", h)
		}
		b.shot("receipt")

		// Dry run: the preview shows the order before and after and the
		// posting, and changes nothing.
		rows := storetest.Counts(t, db)
		b.click("#preview-replay")
		if got := []string{b.text("#action"), b.text("#after-status")}; !cmp.Equal(got, []string{"applied", "paid"}) {
			t.Errorf("preview: action, order after = %v", got)
		}
		if p := b.text("#posting"); !strings.Contains(p, "clearing:stripe") || !strings.Contains(p, "-25.00 USD") {
			t.Errorf("posting: %s", p)
		}
		rows["audit_log"]++
		if diff := cmp.Diff(rows, storetest.Counts(t, db)); diff != "" {
			t.Errorf("the preview wrote more than its audit row (-want +got):\n%s", diff)
		}
		if st := receiptStatus(t, g, id); st != "unknown" {
			t.Errorf("after the preview the receipt is %s", st)
		}
		b.shot("replay-preview")

		// Confirm: the replay applies the receipt, once.
		b.click("#confirm-replay")
		if st := b.text("#new-status"); st != "applied" {
			t.Errorf("replayed: %q", st)
		}
		if st := receiptStatus(t, g, id); st != "applied" {
			t.Errorf("after the replay the receipt is %s", st)
		}
		wants(t, "order after the replay", orderLedger(t, g, "C-200"), `"status":"paid"`, `"paid_amount":2500`)
		b.shot("replay-done")

		// The reconciliation report for a chosen period, and its CSV.
		b.click(`header nav a[href="/admin/ui/report"]`)
		b.do(chromedp.SetValue(chromedp.ID("r-from"), "2025-03-10"), chromedp.SetValue(chromedp.ID("r-to"), "2025-03-12"))
		b.click("#show-report")
		if l := b.location(); l != "/admin/ui/report?from=2025-03-10&to=2025-03-12" {
			t.Errorf("report at %s", l)
		}
		if ok := b.text("#ledger-ok"); ok != "balanced" {
			t.Errorf("ledger check: %q", ok)
		}
		b.shot("report")
		got := b.download("#download-csv")
		_, want := g.do(t, http.MethodGet, "/admin/reports/reconciliation?from=2025-03-10&to=2025-03-12&format=csv", adminToken, nil)
		if string(got) != string(want) {
			t.Errorf("downloaded CSV differs from the API's:\n%s\n---\n%s", got, want)
		}
		checkReportCSV(t, got)

		// The audit log shows who did what, through the console.
		b.click(`header nav a[href="/admin/ui/audit"]`)
		audit := b.text("#audit")
		for _, want := range []string{"callbacks.replay_dry_run", "callbacks.replay", "reports.reconciliation", "console.login", fmt.Sprintf("receipt:%d", id)} {
			if !strings.Contains(audit, want) {
				t.Errorf("audit page has no %s", want)
			}
		}
		b.shot("audit")

		// Log out: the console is closed again.
		b.click("#logout")
		if l := b.location(); l != "/admin/ui/login" {
			t.Errorf("after logout at %s", l)
		}
		b.do(chromedp.Navigate(g.srv.URL + "/admin/ui/receipts"))
		if l := b.location(); !strings.HasPrefix(l, "/admin/ui/login?next=") {
			t.Errorf("after logout the receipts page is at %s", l)
		}
		if len(b.shots) != 8 {
			t.Errorf("%d screenshots: %v", len(b.shots), b.shots)
		}
	})
}

// download clicks a link that downloads a file and returns the file.
func (b *browserRun) download(sel string) []byte {
	b.t.Helper()
	dir := b.t.TempDir()
	progress := chromedp.Events(b.ctx, browser.DownloadProgress)
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true)})
		return err
	}), chromedp.Click(chromedp.CSS(sel)))
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("download: %v", err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				b.t.Fatal(err)
			}
			return data
		case browser.DownloadProgressStateCanceled:
			b.t.Fatal("download canceled")
		}
	}
	b.t.Fatal("no download")
	return nil
}

// checkReportCSV reads the report's CSV as a spreadsheet would and checks
// its figures against the day busyDay made.
func checkReportCSV(t *testing.T, data []byte) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, data)
	}
	if !cmp.Equal(recs[0], report.CSVHeader) {
		t.Fatalf("csv header %v", recs[0])
	}
	got := map[string]string{}
	for _, r := range recs[1:] {
		key := strings.Join(r[:4], "/")
		got[key] = r[4] + "|" + r[5] + "|" + r[6] + "|" + r[7]
	}
	// busyDay's 40 events: 14 acme payments (i%3 == 0), 4 amount
	// mismatches (i%9 == 4), 22 Stripe payments of which 6 were delivered
	// twice (i%4 == 1); then consoleData's C-100 (applied), C-200
	// (replayed: applied), C-300 (rejected) and C-400 (escalated).
	for key, want := range map[string]string{
		"outcome/acme/applied/":                         "14|||",
		"outcome/stripe/applied/":                       "24|||",
		"outcome/stripe/rejected/":                      "5|||",
		"outcome/stripe/unknown/":                       "0|||",
		"outcome/stripe/escalated/":                     "1|||",
		"duplicates/stripe//":                           "6|||",
		"payments/acme//EUR":                            "14|38500|385.00|",
		"payments/stripe//USD":                          "24|36000|360.00|",
		"refunds/stripe//USD":                           "0|0|0.00|",
		"ledger_check//ok/":                             "|||true",
		"rejection/stripe/amount or currency mismatch/": "5|||",
	} {
		if got[key] != want {
			t.Errorf("csv %s: %q, want %q", key, got[key], want)
		}
	}
}

// waitDeliveries waits until the duplicate deliveries, counted in memory
// and written about once a second, are all in the database.
func waitDeliveries(t *testing.T, db *store.DB, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int64
		if err := db.SQL().QueryRow(`SELECT COALESCE(SUM(deliveries - 1), 0) FROM callback_receipts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d duplicate deliveries written, want %d", n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
