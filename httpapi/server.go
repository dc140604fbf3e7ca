// Package httpapi is the HTTP edge: routes, authentication, request ids and
// logging, JSON in and out, and the one table that maps errors to status
// codes. Handlers are thin: decode, call one service method, encode.
package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gateway/callbacks"
	"gateway/config"
	"gateway/ledger"
	"gateway/ops"
	"gateway/submission"
)

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server holds what the routes need.
type Server struct {
	callbacks    *callbacks.Service
	orders       *ledger.Service
	submissions  *submission.Service
	db           Pinger
	lock         Pinger
	apiTokens    []token
	adminTokens  []token
	maxBodyBytes int64
	log          *slog.Logger
	ops          *ops.Service
	metrics      http.Handler
	metricsOpen  bool
	ips          ipRules
	console      *console
}

// Deps are the server's dependencies.
type Deps struct {
	Callbacks   *callbacks.Service
	Orders      *ledger.Service
	Submissions *submission.Service
	DB          Pinger
	// Lock, when set, is the optional distributed lock: /readyz reports it
	// degraded (still ready) when it does not answer.
	Lock         Pinger
	Auth         config.Auth
	MaxBodyBytes int64
	Log          *slog.Logger
	// Ops serves the admin API.
	Ops *ops.Service
	// Metrics serves /metrics: to admin tokens, or to anyone when
	// MetricsPublic is set (http.metrics_public).
	Metrics       http.Handler
	MetricsPublic bool
	// AllowIPs, per provider name, are the only addresses its callbacks
	// are taken from (403 otherwise); a provider absent here takes any.
	AllowIPs map[string][]netip.Prefix
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Console configures the operations console under /admin/ui, served
	// when Ops is set; Now is its sessions' clock (default time.Now).
	Console config.Console
	Now     func() time.Time
}

// New returns the server.
func New(d Deps) *Server {
	s := &Server{callbacks: d.Callbacks, orders: d.Orders, submissions: d.Submissions, db: d.DB, lock: d.Lock,
		apiTokens: tokens(d.Auth.APITokens), adminTokens: tokens(d.Auth.AdminTokens),
		maxBodyBytes: d.MaxBodyBytes, log: d.Log,
		ops: d.Ops, metrics: d.Metrics, metricsOpen: d.MetricsPublic,
		ips: ipRules{allow: d.AllowIPs, trusted: d.TrustedProxies}}
	if d.Ops != nil {
		var providers []string
		if d.Callbacks != nil {
			providers = d.Callbacks.ProviderNames()
		}
		if d.Console.SessionKey == "" {
			d.Log.Info("console: no console.session_key configured; sessions are signed with a key made at start, " +
				"so they end with a restart and are not shared between replicas")
		}
		s.console = newConsole(d, s.adminTokens, providers)
	}
	return s
}

func init() { gin.SetMode(gin.ReleaseMode) }

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// No proxy is trusted by gin: c.ClientIP() is the peer. Callback
	// allow-lists use ipRules, which knows the configured proxies.
	_ = r.SetTrustedProxies(nil)
	r.Use(s.requestID, s.recover)
	r.NoRoute(func(c *gin.Context) { s.fail(c, errNotFound) })
	r.NoMethod(func(c *gin.Context) { s.fail(c, errMethodNotAllowed) })

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.POST("/callbacks/:provider", s.callback)

	api := r.Group("/api", s.auth(false))
	api.POST("/orders", s.idempotent, s.createOrder)
	api.POST("/tokens", s.createToken)
	api.GET("/orders/:order_no", s.getOrder)
	api.POST("/orders/:order_no/ship", s.transition(ledger.StatusShipped))
	api.POST("/orders/:order_no/receive", s.transition(ledger.StatusReceived))
	api.POST("/orders/:order_no/close", s.transition(ledger.StatusClosed))

	s.adminRoutes(r)

	// ---- Operations console (/admin/ui, console.go) --------------------
	// HTML pages behind a login with an admin token: a signed, expiring
	// session cookie; every POST also carries the session's CSRF token.
	if s.console != nil {
		r.GET(consoleBase, func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, consoleBase+"/") })
		ui := r.Group(consoleBase, consoleHeaders)
		ui.GET("/static/console.css", s.consoleCSS)
		ui.GET("/login", s.loginForm)
		ui.POST("/login", s.login)
		pages := ui.Group("", s.consoleSession(false))
		pages.GET("/", s.overviewPage)
		pages.GET("/receipts", s.receiptsPage)
		pages.GET("/receipts/:id", s.receiptPage)
		pages.GET("/report", s.reportPage)
		pages.GET("/report.csv", s.reportCSV)
		pages.GET("/audit", s.auditPage)
		actions := ui.Group("", s.consoleSession(true), s.consoleCSRF)
		actions.POST("/receipts/:id/replay", s.replayAction)
		actions.POST("/logout", s.logout)
	}
	// ---- end of the operations console ----------------------------------
	return r
}

// requestID gives every request an id (the caller's X-Request-Id if sane)
// and writes one access line when it ends, carrying what the handler added
// with logAttrs (a callback's outcome), so a delivery costs one log line.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if id == "" || len(id) > 64 || strings.ContainsAny(id, " \t\r\n") {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Header("X-Request-Id", id)
	c.Set("request_id", id)
	start := time.Now()
	c.Next()
	if !s.log.Enabled(c, slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{slog.String("request_id", id), slog.String("method", c.Request.Method),
		slog.String("path", c.FullPath()), slog.Int("status", c.Writer.Status()),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000)}
	if more, ok := c.Get("log_attrs"); ok {
		attrs = append(attrs, more.([]slog.Attr)...)
	}
	s.log.LogAttrs(c, slog.LevelInfo, "http", attrs...)
}

// logAttrs adds attributes to the request's access line.
func logAttrs(c *gin.Context, attrs ...slog.Attr) {
	if more, ok := c.Get("log_attrs"); ok {
		attrs = append(more.([]slog.Attr), attrs...)
	}
	c.Set("log_attrs", attrs)
}

// logger is the request's logger, carrying its id; made on first use.
func logger(c *gin.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := c.Get("log"); ok {
		return l.(*slog.Logger)
	}
	if id := c.GetString("request_id"); id != "" {
		l := fallback.With("request_id", id)
		c.Set("log", l)
		return l
	}
	return fallback
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger(c, s.log).Error("panic", "value", v)
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": gin.H{"code": "internal", "message": "internal error"}})
		}
	}()
	c.Next()
}

type token struct {
	name   string
	digest [32]byte
}

func tokens(secrets []config.Secret) []token {
	out := make([]token, 0, len(secrets))
	for _, s := range secrets {
		name, t := config.SplitToken(s)
		out = append(out, token{name: name, digest: sha256.Sum256([]byte(t))})
	}
	return out
}

// match compares the presented token with every configured one in
// constant time (digests have equal length; no early exit).
func match(presented string, ts []token) (string, bool) {
	d := sha256.Sum256([]byte(presented))
	name, found := "", false
	for _, t := range ts {
		if subtle.ConstantTimeCompare(d[:], t.digest[:]) == 1 {
			name, found = t.name, true
		}
	}
	return name, found
}

// auth requires a bearer token: an API token (or an admin token) for the
// merchant API, an admin token for the admin API.
func (s *Server) auth(admin bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		presented, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || presented == "" {
			s.fail(c, errUnauthorized)
			return
		}
		if name, ok := match(presented, s.adminTokens); ok {
			c.Set("principal", "admin:"+name)
			c.Next()
			return
		}
		if name, ok := match(presented, s.apiTokens); ok {
			if admin {
				s.fail(c, errForbidden)
				return
			}
			c.Set("principal", "api:"+name)
			c.Next()
			return
		}
		s.fail(c, errUnauthorized)
	}
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		logger(c, s.log).Warn("not ready", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "checks": gin.H{"database": "unreachable"}})
		return
	}
	status, checks := "ok", gin.H{"database": "ok"}
	if s.lock != nil {
		checks["lock"] = "ok"
		if err := s.lock.Ping(ctx); err != nil {
			logger(c, s.log).Warn("lock degraded", "err", err)
			status, checks["lock"] = "degraded", "degraded: redis unreachable; callbacks rely on the database checks alone"
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": status, "checks": checks})
}
