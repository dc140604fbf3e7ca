package httpapi

import (
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// errAddrNotAllowed refuses a callback from outside its provider's allow_ips.
var errAddrNotAllowed = errors.New("callbacks for this provider are not accepted from this address")

// ipRules are the optional per-provider allow-lists of callback senders and
// the reverse proxies whose X-Forwarded-For is believed.
type ipRules struct {
	allow   map[string][]netip.Prefix
	trusted []netip.Prefix
}

// permits reports whether provider may be called from the request's client
// address, and that address (invalid when it cannot be told). A provider
// without an allow-list takes callbacks from anywhere.
func (r ipRules) permits(provider string, req *http.Request) (netip.Addr, bool) {
	allow, ok := r.allow[provider]
	if !ok {
		return netip.Addr{}, true
	}
	addr, ok := r.clientAddr(req)
	if !ok {
		return addr, false
	}
	return addr, slices.ContainsFunc(allow, func(p netip.Prefix) bool { return p.Contains(addr) })
}

// clientAddr is the connection's peer address; when that peer is a trusted
// proxy, it is the right-most X-Forwarded-For address that is not a trusted
// proxy itself (what a client puts on the left can be forged; what our own
// proxies appended cannot). An unparsable entry makes the client unknown.
func (r ipRules) clientAddr(req *http.Request) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(req.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	addr := peer.Addr().Unmap()
	if !r.isTrusted(addr) {
		return addr, true
	}
	var hops []string
	for _, h := range req.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil || a.Zone() != "" {
			return netip.Addr{}, false
		}
		addr = a.Unmap()
		if !r.isTrusted(addr) {
			return addr, true
		}
	}
	// Every hop is one of our proxies: the left-most is the client.
	return addr, true
}

func (r ipRules) isTrusted(a netip.Addr) bool {
	return slices.ContainsFunc(r.trusted, func(p netip.Prefix) bool { return p.Contains(a) })
}
