package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// dbPath is the Vault path the default objects (withDefaults) read.
const dbPath = "secret/data/shop/db"

// maxMountBytes is the --max-mount-bytes of the fault tests' providers.
const maxMountBytes = 65536

// faultStep is one fault, injected and survived (or explained) by a provider
// that went through the steps before it.
type faultStep struct {
	name string
	run  func(t *testing.T, p *world.Provider)
}

// TestVaultFaults takes one provider per log format through every Vault
// fault in order (the first steps need an empty token cache); startLogged
// checks at the end that the provider never crashed and never logged a
// secret or token on any of these paths.
func TestVaultFaults(t *testing.T) {
	steps := []faultStep{
		{"Vault down, then back", vaultDownThenBack},
		{"sealed at login", sealedAtLogin},
		{"login 500 is a refusal, not retried", login500NotRetried},
		{"read 500 retried", read500Retried},
		{"dynamic secret 500 not repeated", issue500NotRepeated},
		{"sealed, unsealed while retrying", sealedThenUnsealed},
		{"sealed for good", sealedForGood},
		{"429 with Retry-After honoured", rateLimitedRetryAfter},
		{"429 with Retry-After beyond the deadline", rateLimitedBeyondDeadline},
		{"Vault slower than the deadline", slowerThanDeadline},
		{"token revoked while cached", tokenRevokedWhileCached},
		{"Vault restarted, all tokens gone", vaultRestarted},
		{"secrets larger than --max-mount-bytes", oversize},
	}
	for _, format := range logFormats {
		t.Run(format, func(t *testing.T) {
			p := startLogged(t, format, "--max-mount-bytes=65536")
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) {
					defer theWorld.Vault.ClearFaults()
					defer theWorld.Vault.SetSealed(false)
					s.run(t, p)
				})
			}
			// Still serving, and healthy.
			mountDB(t, p, nil)
		})
	}
}

// mountDB mounts the default objects (the web pod's database password) and
// checks the file; vaultAddress overrides the provider's --vault-addr.
func mountDB(t *testing.T, p *world.Provider, extra map[string]string) time.Duration {
	t.Helper()
	start := time.Now()
	v, err := mountAs(t, p, world.SPC("db", withDefaults(extra)), world.WebPod, 30*time.Second)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	if got := readFile(t, v, "db-password"); got != world.DBPassword {
		t.Fatalf("db-password = %q", got)
	}
	return time.Since(start)
}

// expectFailure checks a failed mount: its gRPC code, its message, and that
// nothing was written.
func expectFailure(t *testing.T, v *driver.Volume, err error, code codes.Code, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("mount succeeded, want a failure")
	}
	st, _ := status.FromError(err)
	t.Logf("the pod's event: %s: %s", st.Code(), st.Message())
	if st.Code() != code {
		t.Errorf("code = %s, want %s (%s)", st.Code(), code, st.Message())
	}
	for _, want := range contains {
		if !strings.Contains(st.Message(), want) {
			t.Errorf("message lacks %q:\n%s", want, st.Message())
		}
	}
	if entries, _ := os.ReadDir(v.TargetPath); len(entries) != 0 {
		t.Errorf("a failed mount wrote %d entries", len(entries))
	}
}

// requests returns how many requests Vault has received for path.
func requests(path string) int64 { return theWorld.Vault.Stats().ByPath[path] }

func vaultDownThenBack(t *testing.T, p *world.Provider) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	spc := world.SPC("down", withDefaults(map[string]string{"vaultAddress": "http://" + addr}))
	start := time.Now()
	v, err := mountAs(t, p, spc, world.WebPod, 30*time.Second)
	expectFailure(t, v, err, codes.Unavailable, "connection refused", "/v1/auth/azure/login", "tried 4 times")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refused connections took %v to report: the backoff is unbounded", d)
	}
	// Vault comes back on that address.
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	target, err := url.Parse(theWorld.Vault.Addr())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	mountDB(t, p, map[string]string{"vaultAddress": "http://" + addr})
}

func sealedAtLogin(t *testing.T, p *world.Provider) {
	theWorld.Vault.SetSealed(true)
	before := theWorld.Vault.Stats().Logins
	v, err := mountAs(t, p, world.SPC("sealed", withDefaults(nil)), world.WebPod, 30*time.Second)
	expectFailure(t, v, err, codes.Unavailable, "HTTP 503", "Vault is sealed", "tried 4 times")
	if got := theWorld.Vault.Stats().Logins - before; got != 4 {
		t.Errorf("%d login attempts while sealed, want 4 (1 + --vault-max-retries 3)", got)
	}
}

func login500NotRetried(t *testing.T, p *world.Provider) {
	theWorld.Vault.InjectFault(vaultfront.Fault{PathPrefix: "auth/azure/login", Status: 500, Count: 1})
	before := theWorld.Vault.Stats().Logins
	v, err := mountAs(t, p, world.SPC("login500", withDefaults(nil)), world.WebPod, 30*time.Second)
	expectFailure(t, v, err, codes.PermissionDenied, "HTTP 500", `role "shop-web"`)
	if got := theWorld.Vault.Stats().Logins - before; got != 1 {
		t.Errorf("%d logins, want 1: a login refused with 500 must not be repeated", got)
	}
	mountDB(t, p, nil) // the next mount logs in
}

func read500Retried(t *testing.T, p *world.Provider) {
	theWorld.Vault.InjectFault(vaultfront.Fault{PathPrefix: dbPath, Status: 500, Count: 2})
	before := requests(dbPath)
	mountDB(t, p, nil)
	if got := requests(dbPath) - before; got != 3 {
		t.Errorf("%d reads of %s, want 3 (two 500s, then the answer)", got, dbPath)
	}
}

func issue500NotRepeated(t *testing.T, p *world.Provider) {
	const issue = "pki/issue/web"
	theWorld.Vault.InjectFault(vaultfront.Fault{PathPrefix: issue, Status: 500, Count: 1})
	before := requests(issue)
	v, err := mountAs(t, p, world.SPC("issue500", withDefaults(map[string]string{"objects": shopObjects})), world.WebPod, 30*time.Second)
	expectFailure(t, v, err, codes.Unavailable, "POST "+issue, "HTTP 500")
	if got := requests(issue) - before; got != 1 {
		t.Errorf("%d issue requests, want 1: a POST that got 500 may have issued a certificate", got)
	}
}

func sealedThenUnsealed(t *testing.T, p *world.Provider) {
	theWorld.Vault.SetSealed(true)
	time.AfterFunc(150*time.Millisecond, func() { theWorld.Vault.SetSealed(false) })
	before := requests(dbPath)
	mountDB(t, p, nil)
	if got := requests(dbPath) - before; got < 2 {
		t.Errorf("%d reads: the mount did not meet the sealed Vault", got)
	}
}

func sealedForGood(t *testing.T, p *world.Provider) {
	theWorld.Vault.SetSealed(true)
	before := requests(dbPath)
	v, err := mountAs(t, p, world.SPC("sealed", withDefaults(nil)), world.WebPod, 30*time.Second)
	expectFailure(t, v, err, codes.Unavailable, dbPath, "HTTP 503", "sealed", "tried 4 times")
	if got := requests(dbPath) - before; got != 4 {
		t.Errorf("%d reads while sealed, want 4", got)
	}
}

func rateLimitedRetryAfter(t *testing.T, p *world.Provider) {
	theWorld.Vault.InjectFault(vaultfront.Fault{PathPrefix: dbPath, Status: 429, RetryAfter: time.Second, Count: 1})
	if d := mountDB(t, p, nil); d < time.Second {
		t.Errorf("mounted after %v: Vault's Retry-After of 1s was not honoured", d)
	}
}

func rateLimitedBeyondDeadline(t *testing.T, p *world.Provider) {
	theWorld.Vault.InjectFault(vaultfront.Fault{PathPrefix: dbPath, Status: 429, RetryAfter: 20 * time.Second})
	before := requests(dbPath)
	start := time.Now()
	v, err := mountAs(t, p, world.SPC("limited", withDefaults(nil)), world.WebPod, 3*time.Second)
	if err == nil {
		t.Fatal("mount succeeded against a rate-limited Vault")
	}
	if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
		t.Errorf("code = %s, want Unavailable or DeadlineExceeded: %v", c, err)
	}
	expectNothingWritten(t, v)
	if d := time.Since(start); d > 3500*time.Millisecond {
		t.Errorf("answered after %v, past the 3s deadline", d)
	}
	if got := requests(dbPath) - before; got != 1 {
		t.Errorf("%d reads, want 1: the retry Vault asked for is after the deadline", got)
	}
}

func slowerThanDeadline(t *testing.T, p *world.Provider) {
	theWorld.Vault.InjectFault(vaultfront.Fault{PathPrefix: dbPath, Latency: 10 * time.Second})
	start := time.Now()
	v, err := mountAs(t, p, world.SPC("slow", withDefaults(nil)), world.WebPod, 2*time.Second)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	expectNothingWritten(t, v)
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("answered after %v, past the 2s deadline", d)
	}
	theWorld.Vault.ClearFaults()
	mountDB(t, p, nil) // recovered
}

func expectNothingWritten(t *testing.T, v *driver.Volume) {
	t.Helper()
	if entries, _ := os.ReadDir(v.TargetPath); len(entries) != 0 {
		t.Errorf("a failed mount wrote %d entries", len(entries))
	}
}

// tokensDuring returns the Vault tokens issued while f ran.
func tokensDuring(f func()) []string {
	n := len(theWorld.Vault.IssuedTokens())
	f()
	return theWorld.Vault.IssuedTokens()[n:]
}

func tokenRevokedWhileCached(t *testing.T, p *world.Provider) {
	theWorld.Vault.RevokeAllTokens() // so the next mount logs in and we see its token
	cached := tokensDuring(func() { mountDB(t, p, nil) })
	if len(cached) != 1 {
		t.Fatalf("the mount made %d logins, want 1", len(cached))
	}
	root, err := theWorld.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/token/revoke", map[string]any{"token": cached[0]}); err != nil {
		t.Fatal(err)
	}
	before := requests(dbPath)
	fresh := tokensDuring(func() { mountDB(t, p, nil) })
	if len(fresh) != 1 || slices.Contains(fresh, cached[0]) {
		t.Errorf("after the revocation the mount made %d logins, want exactly 1", len(fresh))
	}
	if got := requests(dbPath) - before; got != 2 {
		t.Errorf("%d reads, want 2: one refused with the revoked token, one with the new", got)
	}
}

func vaultRestarted(t *testing.T, p *world.Provider) {
	mountDB(t, p, nil)
	theWorld.Vault.RevokeAllTokens()
	for i := range 3 {
		logins := tokensDuring(func() { mountDB(t, p, nil) })
		if want := map[bool]int{true: 1, false: 0}[i == 0]; len(logins) != want {
			t.Errorf("mount %d after the restart made %d logins, want %d", i, len(logins), want)
		}
	}
}

func oversize(t *testing.T, p *world.Provider) {
	root, err := theWorld.Root()
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789abcdef", maxMountBytes/16+1)
	if _, err := root.Logical().WriteWithContext(context.Background(), "secret/data/shop/big", map[string]any{"data": map[string]any{"blob": big}}); err != nil {
		t.Fatal(err)
	}
	objects := "- {objectName: small, secretPath: secret/shop/db, secretKey: password}\n- {objectName: big, secretPath: secret/shop/big, secretKey: blob}\n"
	v, err := mountAs(t, p, world.SPC("big", withDefaults(map[string]string{"objects": objects})), world.WebPod, 30*time.Second)
	expectFailure(t, v, err, codes.ResourceExhausted, "65536 bytes", `"big"`)
}
