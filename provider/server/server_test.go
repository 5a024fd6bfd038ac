package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/dynamic"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"parameter", &params.Error{Parameter: "roleName", Problem: "is required"}, codes.InvalidArgument},
		{"auth config", &auth.Error{Kind: auth.KindConfig, Err: errors.New("node identity not allowed")}, codes.FailedPrecondition},
		{"auth credential", &auth.Error{Kind: auth.KindCredential, Err: errors.New("no token for audience")}, codes.Unauthenticated},
		{"auth denied", &auth.Error{Kind: auth.KindDenied, Err: errors.New("Vault refused the login")}, codes.PermissionDenied},
		{"auth unavailable", &auth.Error{Kind: auth.KindUnavailable, Err: errors.New("connection refused")}, codes.Unavailable},
		{"auth error wrapped", fmt.Errorf("mount: %w", &auth.Error{Kind: auth.KindDenied, Err: errors.New("x")}), codes.PermissionDenied},
		{"auth timeout", &auth.Error{Kind: auth.KindUnavailable, Err: fmt.Errorf("logging in: %w", context.DeadlineExceeded)}, codes.DeadlineExceeded},
		{"vault unreachable", &secrets.Error{Method: "GET", Path: "secret/data/a", Message: "dial tcp: connection refused"}, codes.Unavailable},
		{"vault 400", &secrets.Error{Method: "POST", Path: "pki/issue/web", Status: 400, Message: "common name not allowed"}, codes.InvalidArgument},
		{"vault 403", &secrets.Error{Method: "GET", Path: "secret/data/a", Status: 403, Message: "permission denied"}, codes.PermissionDenied},
		{"vault 404", &secrets.Error{Method: "GET", Path: "secret/data/a", Status: 404, Message: "no secret"}, codes.NotFound},
		{"vault 429", &secrets.Error{Method: "GET", Path: "secret/data/a", Status: 429, Message: "rate limit"}, codes.Unavailable},
		{"vault 500", &secrets.Error{Method: "GET", Path: "secret/data/a", Status: 500, Message: "internal error"}, codes.Unavailable},
		{"vault 503", &secrets.Error{Method: "GET", Path: "secret/data/a", Status: 503, Message: "sealed"}, codes.Unavailable},
		{"vault other 4xx", &secrets.Error{Method: "GET", Path: "secret/data/a", Status: 418, Message: "teapot"}, codes.Unknown},
		{"vault 401", &secrets.Error{Method: "GET", Path: "secret/data/a", Status: 401, Message: "unauthorized"}, codes.Unauthenticated},
		{"vault 405", &secrets.Error{Method: "PUT", Path: "secret/data/a", Status: 405, Message: "unsupported operation"}, codes.FailedPrecondition},
		{"vault 412", &secrets.Error{Method: "GET", Path: "secret/data/a", Status: 412, Message: "required index state not present"}, codes.FailedPrecondition},
		{"undecodable value", &provider.ContentError{Index: 1, Err: &secrets.DecodeError{Key: "k", Path: "secret/data/a", Encoding: "base64", Err: errors.New("illegal base64 data at input byte 4")}}, codes.InvalidArgument},
		{"missing key", &provider.ContentError{Index: 2, Err: errors.New(`secretKey "x" is not in the secret`)}, codes.NotFound},
		{"too large", &provider.SizeError{Limit: 10, Object: "big"}, codes.ResourceExhausted},
		{"namespace at its share of dynamic secrets", &dynamic.CapacityError{Namespace: "a", Held: 4, Limit: 4, Flag: "--dynamic-max-secrets-per-namespace"}, codes.ResourceExhausted},
		{"deadline", fmt.Errorf("reading: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"canceled", context.Canceled, codes.Canceled},
		{"anything else", errors.New("boom"), codes.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := toStatus(tc.err)
			if st.Code() != tc.want {
				t.Errorf("code = %s, want %s", st.Code(), tc.want)
			}
			if st.Message() != tc.err.Error() {
				t.Errorf("message = %q, want the full error %q", st.Message(), tc.err.Error())
			}
		})
	}
}

// socketDir returns a short directory: unix socket paths are limited to about
// 108 bytes, and test names make t.TempDir long.
func socketDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "vacp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func checkSocket(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("%s is %v, not a socket", path, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode = %o, want 600", perm)
	}
}

func TestListen(t *testing.T) {
	t.Run("new socket in a new directory", func(t *testing.T) {
		path := filepath.Join(socketDir(t), "providers", "vault.sock")
		l, err := Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		checkSocket(t, path)
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("cannot connect: %v", err)
		}
		c.Close()
	})
	t.Run("stale socket is replaced", func(t *testing.T) {
		path := filepath.Join(socketDir(t), "vault.sock")
		old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		old.SetUnlinkOnClose(false)
		old.Close() // leaves the socket file behind, as a crashed provider does
		if _, err := os.Lstat(path); err != nil {
			t.Fatalf("stale socket not left behind: %v", err)
		}
		l, err := Listen(path)
		if err != nil {
			t.Fatalf("Listen over a stale socket: %v", err)
		}
		defer l.Close()
		checkSocket(t, path)
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("cannot connect: %v", err)
		}
		c.Close()
	})
	t.Run("umask 0 does not widen the mode", func(t *testing.T) {
		old := syscall.Umask(0) // the socket is created 0777, then restricted
		defer syscall.Umask(old)
		path := filepath.Join(socketDir(t), "vault.sock")
		l, err := Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		checkSocket(t, path)
	})
}

func TestListenRefusesNonSockets(t *testing.T) {
	tests := []struct {
		name   string
		create func(t *testing.T, path string)
	}{
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("important"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink to a file", func(t *testing.T, path string) {
			target := path + ".target"
			if err := os.WriteFile(target, []byte("important"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(socketDir(t), "vault.sock")
			tc.create(t, path)
			before, _ := os.Lstat(path)
			l, err := Listen(path)
			if err == nil {
				l.Close()
				t.Fatal("Listen replaced a non-socket")
			}
			if want := fmt.Sprintf("%q exists and is not a socket", path); err.Error() != want+": refusing to remove it" {
				t.Errorf("error = %v", err)
			}
			after, err := os.Lstat(path)
			if err != nil || after.Mode() != before.Mode() {
				t.Errorf("the existing %s was changed: %v", tc.name, err)
			}
			if before.Mode().IsRegular() {
				if b, _ := os.ReadFile(path); string(b) != "important" {
					t.Errorf("file content changed: %q", b)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	s := New(nil, "v1.2.3")
	v, err := s.Version(context.Background(), &pb.VersionRequest{Version: "v1alpha1"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != "v1alpha1" || v.RuntimeName != "vault-azure-csi-provider" || v.RuntimeVersion != "v1.2.3" {
		t.Errorf("Version = %+v", v)
	}
}

type fakeMounter struct {
	mu    sync.Mutex
	calls [][3]string
	res   *provider.Result
	err   error
	// started, if not nil, is told of each call; block, if not nil, holds
	// each call until it is closed.
	started chan struct{}
	block   chan struct{}
}

func (f *fakeMounter) Mount(ctx context.Context, attributes, targetPath, permission string) (*provider.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, [3]string{attributes, targetPath, permission})
	block := f.block
	f.mu.Unlock()
	if f.started != nil {
		f.started <- struct{}{}
	}
	if block != nil {
		<-block
	}
	return f.res, f.err
}

func serveForTest(t *testing.T, m Mounter) (pb.CSIDriverProviderClient, *grpc.ClientConn, context.CancelFunc, chan error) {
	t.Helper()
	return serveWithOptionsForTest(t, m)
}

func serveWithOptionsForTest(t *testing.T, m Mounter, opts ...Option) (pb.CSIDriverProviderClient, *grpc.ClientConn, context.CancelFunc, chan error) {
	t.Helper()
	path := filepath.Join(socketDir(t), "vault.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(m, "v9.9.9", opts...).Serve(ctx, l, 5*time.Second) }()
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); cancel() })
	return pb.NewCSIDriverProviderClient(conn), conn, cancel, done
}

func TestServeMount(t *testing.T) {
	fm := &fakeMounter{res: &provider.Result{
		Files: []provider.File{
			{Path: "db-password", Mode: 0o600, Contents: []byte("pw")},
			{Path: "certs/tls.crt", Mode: 0o644, Contents: []byte("CERT")},
		},
		Versions: []provider.Version{{ID: "db-password", Version: "v-a"}, {ID: "certs/tls.crt", Version: "v-b"}},
	}}
	client, conn, cancel, done := serveForTest(t, fm)
	ctx, cctx := context.WithTimeout(context.Background(), 10*time.Second)
	defer cctx()

	v, err := client.Version(ctx, &pb.VersionRequest{Version: "v1alpha1"})
	if err != nil || v.RuntimeVersion != "v9.9.9" || v.RuntimeName != RuntimeName {
		t.Fatalf("Version = %+v, %v", v, err)
	}
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", h, err)
	}

	resp, err := client.Mount(ctx, &pb.MountRequest{Attributes: `{"roleName":"app"}`, Secrets: "{}", TargetPath: "/var/lib/kubelet/x", Permission: "420"})
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	if resp.Error != nil && resp.Error.Code != "" {
		t.Errorf("MountResponse.Error = %v", resp.Error)
	}
	if len(resp.Files) != 2 || resp.Files[0].Path != "db-password" || resp.Files[0].Mode != 0o600 || string(resp.Files[0].Contents) != "pw" ||
		resp.Files[1].Path != "certs/tls.crt" || resp.Files[1].Mode != 0o644 {
		t.Errorf("files = %v", resp.Files)
	}
	if len(resp.ObjectVersion) != 2 || resp.ObjectVersion[0].Id != "db-password" || resp.ObjectVersion[0].Version != "v-a" || resp.ObjectVersion[1].Version != "v-b" {
		t.Errorf("versions = %v", resp.ObjectVersion)
	}
	fm.mu.Lock()
	call := fm.calls[0]
	fm.mu.Unlock()
	if call != [3]string{`{"roleName":"app"}`, "/var/lib/kubelet/x", "420"} {
		t.Errorf("Mount got %q", call)
	}

	// Errors come back as gRPC statuses with the full explanation.
	fm.mu.Lock()
	fm.res, fm.err = nil, &auth.Error{Kind: auth.KindDenied, Err: errors.New(`Vault refused the azure login for role "app"`)}
	fm.mu.Unlock()
	_, err = client.Mount(ctx, &pb.MountRequest{Attributes: "{}", Permission: "420"})
	st, _ := status.FromError(err)
	if st.Code() != codes.PermissionDenied || st.Message() != `Vault refused the azure login for role "app"` {
		t.Errorf("error status = %v", st)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
}

func TestServeFinishesInFlightMounts(t *testing.T) {
	fm := &fakeMounter{started: make(chan struct{}, 1), block: make(chan struct{}), res: &provider.Result{
		Files: []provider.File{{Path: "a", Mode: 0o644, Contents: []byte("x")}}, Versions: []provider.Version{{ID: "a", Version: "1"}},
	}}
	client, conn, cancel, done := serveForTest(t, fm)
	ctx, cctx := context.WithTimeout(context.Background(), 10*time.Second)
	defer cctx()

	result := make(chan error, 1)
	go func() {
		_, err := client.Mount(ctx, &pb.MountRequest{Attributes: "{}", Permission: "420"})
		result <- err
	}()
	<-fm.started // the Mount is in flight: shut down
	cancel()
	// Stopping gracefully, the server sends the client GOAWAY while the
	// Mount still runs, and the connection leaves READY.
	for st := conn.GetState(); st == connectivity.Ready; st = conn.GetState() {
		if !conn.WaitForStateChange(ctx, st) {
			t.Fatalf("the connection stayed %s: the server did not begin to stop", st)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) with a Mount in flight", err)
	default:
	}
	close(fm.block)
	if err := <-result; err != nil {
		t.Errorf("in-flight Mount failed: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
