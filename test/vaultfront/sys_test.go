package vaultfront

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

func TestSealed(t *testing.T) {
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "secret", "kv", nil))
	c := newClient(t, s, s.RootToken(), "")
	h, err := c.Sys().Health()
	must(t, err)
	if h.Sealed || !h.Initialized || !strings.HasSuffix(h.Version, "-front") {
		t.Errorf("health = %+v", h)
	}

	s.SetSealed(true)
	_, err = c.Logical().Read("secret/x")
	wantStatus(t, err, http.StatusServiceUnavailable)
	if !strings.Contains(err.Error(), "Vault is sealed") {
		t.Errorf("error %q", err)
	}
	h, err = c.Sys().Health()
	must(t, err)
	if !h.Sealed {
		t.Errorf("health while sealed = %+v", h)
	}
	resp, err := http.Get(s.Addr() + "/v1/sys/health")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("plain sys/health while sealed: %d", resp.StatusCode)
	}
	st, err := c.Sys().SealStatus()
	must(t, err)
	if !st.Sealed {
		t.Errorf("seal-status = %+v", st)
	}

	s.SetSealed(false)
	_, err = c.Logical().Read("secret/x")
	must(t, err)
}

func TestFaultInjection(t *testing.T) {
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "secret", "kv", nil))
	c := newClient(t, s, s.RootToken(), "")
	_, err := c.Logical().Write("secret/x", map[string]interface{}{"a": "b"})
	must(t, err)

	tests := []struct {
		name      string
		fault     Fault
		path      string
		statuses  []int // per request, 0 = success
		minLatecy time.Duration
	}{
		{"count limited", Fault{PathPrefix: "secret/", Status: 500, Count: 2}, "secret/x", []int{500, 500, 0}, 0},
		{"v1 prefix accepted", Fault{PathPrefix: "/v1/secret/x", Status: 429, Count: 1}, "secret/x", []int{429, 0}, 0},
		{"other path untouched", Fault{PathPrefix: "auth/", Status: 500}, "secret/x", []int{0, 0}, 0},
		{"until cleared", Fault{Status: 502}, "secret/x", []int{502, 502, 502}, 0},
		{"latency only", Fault{PathPrefix: "secret/x", Latency: 150 * time.Millisecond, Count: 1}, "secret/x", []int{0}, 150 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.ClearFaults()
			s.InjectFault(tc.fault)
			defer s.ClearFaults()
			start := time.Now()
			for i, want := range tc.statuses {
				_, err := c.Logical().Read(tc.path)
				if want == 0 {
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					continue
				}
				wantStatus(t, err, want)
			}
			if d := time.Since(start); d < tc.minLatecy {
				t.Errorf("took %v, want at least %v", d, tc.minLatecy)
			}
		})
	}
}

func TestStats(t *testing.T) {
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "secret", "kv", nil))
	must(t, s.EnableSecrets("ns1", "secret", "kv", nil))
	c := newClient(t, s, s.RootToken(), "")
	_, err := c.Logical().Write("secret/x", map[string]interface{}{"a": "b"})
	must(t, err)
	s.ResetStats()

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Logical().ReadWithContext(context.Background(), "secret/x"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	_, err = c.Logical().Write("secret/y", map[string]interface{}{"a": "b"})
	must(t, err)
	_, err = c.Logical().Write("auth/jwt/login", map[string]interface{}{"role": "x"})
	wantStatus(t, err, http.StatusNotFound) // counted as a login attempt all the same
	_, err = c.Auth().Token().LookupSelf()
	must(t, err)
	_, err = newClient(t, s, s.RootToken(), "ns1").Logical().Read("secret/x")
	must(t, err)

	st := s.Stats()
	if st.Reads != n+1 || st.Writes != 1 || st.Logins != 1 || st.Other != 1 {
		t.Errorf("stats = %+v", st)
	}
	if st.ByPath["secret/x"] != n || st.ByPath["ns1/secret/x"] != 1 || st.ByPath["auth/jwt/login"] != 1 {
		t.Errorf("by path = %v", st.ByPath)
	}
	s.ResetStats()
	if st := s.Stats(); st.Reads != 0 || len(st.ByPath) != 0 {
		t.Errorf("after reset = %+v", st)
	}
}

func TestTLS(t *testing.T) {
	ca, err := newPKICAForTest()
	must(t, err)
	s, err := New(Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.cert}}, RootToken: "root"})
	must(t, err)
	defer s.Close()
	if !strings.HasPrefix(s.Addr(), "https://") {
		t.Fatalf("addr %s", s.Addr())
	}
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr()
	must(t, cfg.ConfigureTLS(&api.TLSConfig{CACertBytes: ca.pem}))
	c, err := api.NewClient(cfg)
	must(t, err)
	c.SetToken("root")
	_, err = c.Auth().Token().LookupSelf()
	must(t, err)
}

// testCert is a self-signed certificate for 127.0.0.1.
type testCert struct {
	cert tls.Certificate
	pem  []byte
}

// newPKICAForTest issues a server certificate for 127.0.0.1 from a pki
// backend's CA, exercising the engine's signing code.
func newPKICAForTest() (*testCert, error) {
	caCert, caKey, caPEM, err := newPKICA("test")
	if err != nil {
		return nil, err
	}
	b := &pkiBackend{caCert: caCert, caKey: caKey, caPEM: caPEM}
	data, _, err := b.sign(&pkiRole{KeyType: "ec"}, "localhost", []string{"localhost"},
		[]net.IP{net.ParseIP("127.0.0.1")}, time.Hour, "")
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair([]byte(data["certificate"].(string)), []byte(data["private_key"].(string)))
	if err != nil {
		return nil, fmt.Errorf("key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, fmt.Errorf("bad CA PEM")
	}
	return &testCert{cert: cert, pem: []byte(caPEM)}, nil
}
