package vaultfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/helper/base62"
)

// Version is what sys/health and the backends' system view report.
const Version = "1.21.4-front"

// Defaults of the server.
const (
	// defaultLeaseTTL is the default TTL of tokens and leases on every mount.
	defaultLeaseTTL = time.Hour
	// defaultMaxLeaseTTL is the system-wide maximum TTL, Vault's default.
	defaultMaxLeaseTTL = 768 * time.Hour
	// janitorInterval is how often expired tokens and leases are reaped.
	janitorInterval = 200 * time.Millisecond
)

// Options configures a Server.
type Options struct {
	// Addr is the listen address; the default is "127.0.0.1:0".
	Addr string
	// TLSConfig, when set, makes the server speak HTTPS with this config.
	TLSConfig *tls.Config
	// RootToken is the root token, valid in every namespace; random if empty.
	RootToken string
	// Logger receives the backends' logs; the default discards them.
	Logger hclog.Logger
}

// Server is a running Vault front. Create it with New and stop it with Close.
type Server struct {
	addr      string
	rootToken string
	clusterID string
	logger    hclog.Logger
	http      *http.Server
	listener  net.Listener

	sealed atomic.Bool

	mu         sync.RWMutex
	namespaces map[string]*namespace

	tokens   *tokenStore
	leases   *leaseStore
	entities *entityStore
	stats    *statsCollector
	faults   *faultSet
	observed observation

	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New starts a Vault front listening on opts.Addr and serving immediately.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	root := opts.RootToken
	if root == "" {
		r, err := base62.Random(24)
		if err != nil {
			return nil, fmt.Errorf("vaultfront: generate root token: %w", err)
		}
		root = "hvs." + r
	}
	clusterID, err := uuid.GenerateUUID()
	if err != nil {
		return nil, fmt.Errorf("vaultfront: generate cluster id: %w", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("vaultfront: listen on %s: %w", opts.Addr, err)
	}
	scheme := "http"
	if opts.TLSConfig != nil {
		ln = tls.NewListener(ln, opts.TLSConfig)
		scheme = "https"
	}
	s := &Server{
		addr:       scheme + "://" + ln.Addr().String(),
		rootToken:  root,
		clusterID:  clusterID,
		logger:     opts.Logger,
		listener:   ln,
		namespaces: map[string]*namespace{},
		tokens:     newTokenStore(),
		leases:     newLeaseStore(),
		entities:   newEntityStore(),
		stats:      newStatsCollector(),
		faults:     &faultSet{},
		stop:       make(chan struct{}),
	}
	if _, err := s.ensureNamespace(""); err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, ErrorLog: nil}
	s.done.Add(2)
	go s.serve()
	go s.janitor()
	return s, nil
}

// serve runs the HTTP server until Close.
func (s *Server) serve() {
	defer s.done.Done()
	if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.logger.Error("vaultfront: serve failed", "error", err)
	}
}

// Addr returns the base URL of the server, e.g. "http://127.0.0.1:8200".
func (s *Server) Addr() string { return s.addr }

// RootToken returns the root token, which is valid in every namespace.
func (s *Server) RootToken() string { return s.rootToken }

// Close stops serving (waiting up to 5s for requests in flight), stops the
// reaper and cleans up every backend.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			if cerr := s.http.Close(); cerr != nil {
				s.closeErr = fmt.Errorf("vaultfront: close http server: %w", cerr)
			}
		}
		s.done.Wait()
		for _, m := range s.allMounts() {
			m.backend.Cleanup(ctx)
		}
	})
	return s.closeErr
}

// SetSealed seals or unseals the server. While sealed every request except
// sys/health and sys/seal-status is answered 503 {"errors":["Vault is sealed"]}.
func (s *Server) SetSealed(sealed bool) { s.sealed.Store(sealed) }

// RevokeAllTokens forgets every token except the root token, as if Vault had
// lost its token store. Leases survive, as they would across a restart.
func (s *Server) RevokeAllTokens() { s.tokens.clear() }

// janitor reaps expired tokens (revoking their leases) and expired leases.
func (s *Server) janitor() {
	defer s.done.Done()
	t := time.NewTicker(janitorInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			for _, tok := range s.tokens.expire(now) {
				s.revokeLeasesOfToken(tok.id)
			}
			for _, l := range s.leases.expire(now) {
				s.revokeLeaseBackend(context.Background(), l)
			}
		}
	}
}
