// Package tlsproxy is a loopback forward proxy that impersonates a fixed set
// of HTTPS hosts and refuses everything else.
//
// Code that cannot be pointed at an emulator (for example
// vault-plugin-auth-azure, which always fetches
// https://login.microsoftonline.com/<tenant>/.well-known/openid-configuration)
// honours HTTPS_PROXY. Pointed at this proxy, its CONNECT requests for routed
// hosts are answered by terminating TLS with a certificate from a test CA and
// serving the decrypted requests with an in-process handler. CONNECTs to any
// other host, and plain-HTTP proxy requests for unrouted hosts, get 403 and
// are recorded, so nothing reaches a real Azure endpoint.
package tlsproxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/testca"
)

// Proxy is a running CONNECT proxy on 127.0.0.1.
type Proxy struct {
	ln     net.Listener
	srv    *http.Server
	routes map[string]*route // by lower-case host name without port

	mu      sync.Mutex
	refused []string
}

// route serves the decrypted connections for one impersonated host.
type route struct {
	host    string
	tlsConf *tls.Config
	handler http.Handler
	ln      *connListener
	srv     *http.Server
}

// New starts a proxy on 127.0.0.1. routes maps host names (without port, e.g.
// "login.microsoftonline.com") to the handlers that answer for them.
func New(ca *testca.CA, routes map[string]http.Handler) (*Proxy, error) {
	if ca == nil {
		return nil, errors.New("tlsproxy: a CA is required")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tlsproxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, routes: map[string]*route{}}
	for host, h := range routes {
		host = strings.ToLower(host)
		conf, err := ca.ServerTLSConfig(host)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("tlsproxy: certificate for %s: %w", host, err)
		}
		r := &route{host: host, tlsConf: conf, handler: h, ln: newConnListener(ln.Addr())}
		r.srv = &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
		go func() { _ = r.srv.Serve(r.ln) }()
		p.routes[host] = r
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serveHTTP), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL returns the proxy URL, e.g. "http://127.0.0.1:41234", for HTTPS_PROXY.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Refused returns the targets ("host:port" for CONNECT, the URL for plain
// HTTP) the proxy refused, in order.
func (p *Proxy) Refused() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.refused...)
}

// Close stops the proxy and every impersonated host's server.
func (p *Proxy) Close() error {
	errs := []error{p.srv.Close()}
	for _, r := range p.routes {
		errs = append(errs, r.srv.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tlsproxy: close: %w", err)
	}
	return nil
}

func (p *Proxy) refuse(w http.ResponseWriter, target string) {
	p.mu.Lock()
	p.refused = append(p.refused, target)
	p.mu.Unlock()
	http.Error(w, "tlsproxy: host is not routed in this hermetic test: "+target, http.StatusForbidden)
}

func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		p.serveConnect(w, r)
	case r.URL.IsAbs():
		// A plain-HTTP proxy request (HTTP_PROXY), e.g. to IMDS at 169.254.169.254.
		rt, ok := p.routes[strings.ToLower(r.URL.Hostname())]
		if !ok || r.URL.Scheme != "http" {
			p.refuse(w, r.URL.String())
			return
		}
		r.RequestURI = r.URL.RequestURI()
		rt.handler.ServeHTTP(w, r)
	default:
		http.Error(w, "tlsproxy: this is a forward proxy", http.StatusBadRequest)
	}
}

func (p *Proxy) serveConnect(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	rt, ok := p.routes[strings.ToLower(host)]
	if !ok {
		p.refuse(w, r.Host)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "tlsproxy: cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		http.Error(w, "tlsproxy: hijack: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = conn.Close()
		return
	}
	tlsConn := tls.Server(&bufferedConn{Conn: conn, r: brw.Reader}, rt.tlsConf)
	if !rt.ln.push(tlsConn) {
		_ = conn.Close()
	}
}

// bufferedConn reads first whatever the hijacked server had buffered.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

// Read implements net.Conn, draining the hijacked buffer first.
func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// connListener is a net.Listener fed with already accepted connections.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// Accept implements net.Listener.
func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *connListener) Addr() net.Addr { return l.addr }
