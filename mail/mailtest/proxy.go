package mailtest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a server and injects faults.
type Proxy struct {
	Addr string

	upstream string
	ln       net.Listener

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
	stalled  bool   // server-to-client data is held back (a server that stops answering)
	dropOn   []byte // close a connection when the server sends this
	drops    int    // how many more times dropOn applies (-1: always)
	emptyOn  []byte // send an empty literal in place of one that holds this
	empties  int    // how many more times emptyOn applies (-1: always)
	refuse   string // answer a new connection with this line and close it, never forwarding ("": forward)
	cut      bool   // close a new connection at once, never forwarding
	wake     *sync.Cond
}

// NewProxy listens on 127.0.0.1:0 and forwards to upstream.
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), upstream: upstream, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wake = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.DropAll()
		p.Stall(false)
	})
	return p
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepted++
		refuse, cut := p.refuse, p.cut
		p.mu.Unlock()
		if cut || refuse != "" {
			if refuse != "" {
				c.Write([]byte(refuse + "\r\n"))
			}
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, up)
		go p.pipe(up, c, false)
		p.mu.Lock()
		rewrite := p.emptyOn != nil
		p.mu.Unlock()
		if rewrite {
			go p.emptyLiterals(c, up)
		} else {
			go p.pipe(c, up, true)
		}
	}
}

func (p *Proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

// drop closes both sides of a proxied connection and forgets them.
func (p *Proxy) drop(dst, src net.Conn) {
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// pipe copies src to dst; fromServer marks the direction faults apply to.
func (p *Proxy) pipe(dst, src net.Conn, fromServer bool) {
	defer p.drop(dst, src)
	buf := make([]byte, 32<<10)
	var tail []byte // the end of the previous chunk, so a marker split across reads is seen
	for {
		n, err := src.Read(buf)
		if n > 0 && fromServer {
			p.mu.Lock()
			for p.stalled {
				p.wake.Wait()
			}
			drop := p.drops != 0 && bytes.Contains(append(tail, buf[:n]...), p.dropOn)
			if drop && p.drops > 0 {
				p.drops--
			}
			p.mu.Unlock()
			if drop {
				// Forward part of the chunk, then cut: the client sees a fetch end mid-literal.
				dst.Write(buf[:n/2])
				return
			}
			tail = append(tail[:0], buf[max(0, n-256):n]...)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// DropAll closes every open connection.
func (p *Proxy) DropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Stall holds back (true) or releases (false) everything the server sends.
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	p.stalled = on
	p.mu.Unlock()
	p.wake.Broadcast()
}

// DropOn closes the connection when the server sends marker, the next times
// times (-1: every time; 0: never again).
func (p *Proxy) DropOn(marker string, times int) {
	p.mu.Lock()
	p.dropOn, p.drops = []byte(marker), times
	p.mu.Unlock()
}

// Refuse makes the proxy answer each new connection with line (such as an
// SMTP "421 4.3.2 try later") and close it, without reaching the server;
// "" forwards again. Connections already open are not touched.
func (p *Proxy) Refuse(line string) {
	p.mu.Lock()
	p.refuse = line
	p.mu.Unlock()
}

// Cut makes the proxy close each new connection at once (true), without a
// word, or forward again (false).
func (p *Proxy) Cut(on bool) {
	p.mu.Lock()
	p.cut = on
	p.mu.Unlock()
}

// Accepted is the number of connections accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// EmptyBodyOn makes the server's literals that contain marker arrive empty
// ("{0}", the rest of the response as the server sent it: a FETCH keeps its
// UID and RFC822.SIZE), the next times times (-1: every time; 0: never
// again). It applies to the connections accepted after the first call.
func (p *Proxy) EmptyBodyOn(marker string, times int) {
	p.mu.Lock()
	p.emptyOn, p.empties = []byte(marker), times
	p.mu.Unlock()
}

// emptyLiterals copies the server's side of a connection line by line,
// taking each literal ("{n}" at the end of a line, then n bytes) whole.
func (p *Proxy) emptyLiterals(dst, src net.Conn) {
	defer p.drop(dst, src)
	br := bufio.NewReader(src)
	for {
		line, err := br.ReadBytes('\n')
		if n, at, ok := literalAt(line); ok {
			lit := make([]byte, n)
			if _, err := io.ReadFull(br, lit); err != nil {
				return
			}
			p.mu.Lock()
			empty := p.empties != 0 && bytes.Contains(lit, p.emptyOn)
			if empty && p.empties > 0 {
				p.empties--
			}
			p.mu.Unlock()
			if empty {
				line = append(line[:at:at], "{0}\r\n"...)
				lit = nil
			}
			if _, err := dst.Write(append(line, lit...)); err != nil {
				return
			}
			continue
		}
		if len(line) > 0 {
			if _, werr := dst.Write(line); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// literalAt finds the literal announced at the end of line ("... {n}\r\n"):
// its length and where the "{" is.
func literalAt(line []byte) (n int, at int, ok bool) {
	rest, found := bytes.CutSuffix(line, []byte("}\r\n"))
	if !found {
		return 0, 0, false
	}
	at = bytes.LastIndexByte(rest, '{')
	if at < 0 {
		return 0, 0, false
	}
	n, err := strconv.Atoi(string(rest[at+1:]))
	if err != nil || n < 0 || n > 1<<30 {
		return 0, 0, false
	}
	return n, at, true
}
