package server

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vaultazure/vault-azure-csi-provider/auth/observe/observetest"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
)

// panickyMounter panics on the Mounts whose target path says so, as a bug
// in a rare code path would.
type panickyMounter struct{ calls atomic.Int32 }

func (m *panickyMounter) Mount(_ context.Context, _, targetPath, _ string) (*provider.Result, error) {
	m.calls.Add(1)
	switch targetPath {
	case "/index":
		var objs []int
		_ = objs[len(targetPath)] // index out of range
	case "/value":
		panic("token hvs.SECRET-in-a-panic-value")
	}
	return &provider.Result{Files: []provider.File{{Path: "a", Mode: 0o644, Contents: []byte("x")}},
		Versions: []provider.Version{{ID: "a", Version: "1"}}}, nil
}

// TestPanicInMountIsInternalAndServerKeepsServing: an injected panic in
// Mount answers codes.Internal, the process survives, and the next Mount on
// the same connection succeeds.
func TestPanicInMountIsInternalAndServerKeepsServing(t *testing.T) {
	m := &panickyMounter{}
	mounts := &observetest.Recorder{}
	client, _, cancel, done := serveWithOptionsForTest(t, m, WithObserver(mounts))
	for _, tc := range []struct{ path, want string }{
		{"/index", "runtime error: index out of range"},
		{"/value", "a panic with a value of type string"},
	} {
		_, err := client.Mount(context.Background(), &pb.MountRequest{Attributes: "{}", TargetPath: tc.path, Permission: "420"})
		st, _ := status.FromError(err)
		if st.Code() != codes.Internal || !strings.Contains(st.Message(), tc.want) || !strings.Contains(st.Message(), "keeps serving") {
			t.Errorf("%s: got %v, want Internal naming %q", tc.path, err, tc.want)
		}
		if strings.Contains(st.Message(), "hvs.SECRET") {
			t.Errorf("the answer carries the panic's value: %s", st.Message())
		}
	}
	resp, err := client.Mount(context.Background(), &pb.MountRequest{Attributes: "{}", TargetPath: "/fine", Permission: "420"})
	if err != nil || len(resp.GetFiles()) != 1 {
		t.Fatalf("after the panics: %v, %v; want the server to keep serving", resp, err)
	}
	if m.calls.Load() != 3 {
		t.Errorf("mounter called %d times, want 3", m.calls.Load())
	}
	if observed := strings.Join(mounts.Events("mount"), ","); observed != "Internal,Internal,ok" {
		t.Errorf("observed mount results %q, want Internal,Internal,ok", observed)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
