package consent

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"ticketd/config"
)

// maxClients bounds how many client addresses the rate limiter remembers
// (about 100 bytes each). When it is reached the one seen longest ago is
// forgotten: a client idle for a minute has a full bucket anyway.
const maxClients = 10000

// limiter is a token bucket per client address, in memory: each holds up
// to rate tokens and gains rate tokens per minute; a request takes one.
type limiter struct {
	mu      sync.Mutex
	max     int
	clients map[string]*list.Element // of *bucket
	lru     list.List                // most recently seen first
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

func newLimiter(max int) *limiter {
	return &limiter{max: max, clients: map[string]*list.Element{}}
}

// take takes a token for key at now, with rate tokens per minute. It returns
// 0 when the request may go on, or else how long until a token is there.
func (l *limiter) take(key string, rate int, now time.Time) time.Duration {
	if rate <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[key]
	if !ok {
		if l.lru.Len() >= l.max {
			oldest := l.lru.Back()
			delete(l.clients, oldest.Value.(*bucket).key)
			l.lru.Remove(oldest)
		}
		e = l.lru.PushFront(&bucket{key: key, tokens: float64(rate), last: now})
		l.clients[key] = e
	} else {
		l.lru.MoveToFront(e)
	}
	b := e.Value.(*bucket)
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(rate), b.tokens+elapsed.Minutes()*float64(rate))
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / float64(rate) * float64(time.Minute))
}

// len is how many clients are remembered.
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// clientKey is the rate-limit key of a request: its client's address (see
// config.Server.ClientAddr: behind a trusted proxy, from X-Forwarded-For).
func clientKey(cfg *config.Config, r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return addrKey(r.RemoteAddr)
	}
	return addrKey(cfg.Server.ClientAddr(peer.WithZone(""), r.Header.Values("X-Forwarded-For")).String())
}

// addrKey is the rate-limit key of an address: the IPv4 address, or the /64
// network of an IPv6 address (one subscriber's usual allocation, so that
// rotating through it gains nothing).
func addrKey(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
