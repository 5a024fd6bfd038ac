package registrar

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// The kubelet's side of plugin registration: it dials <name>-reg.sock,
// asks GetInfo, and reports the outcome.
func TestRegistrationAsTheKubeletSeesIt(t *testing.T) {
	dir := t.TempDir()
	r, err := Start(dir, "secrets-store.csi.k8s.io", "/var/lib/kubelet/plugins/csi-secrets-store/csi.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "secrets-store.csi.k8s.io-reg.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := registerapi.NewRegistrationClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := c.GetInfo(ctx, &registerapi.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != registerapi.CSIPlugin || info.Name != "secrets-store.csi.k8s.io" ||
		info.Endpoint != "/var/lib/kubelet/plugins/csi-secrets-store/csi.sock" || len(info.SupportedVersions) != 1 {
		t.Errorf("GetInfo = %+v", info)
	}
	if ok, _ := r.Status(); ok {
		t.Error("registered before the kubelet said so")
	}
	if _, err := c.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: false, Error: "version 1.0.0 not supported"}); err != nil {
		t.Fatal(err)
	}
	if ok, msg := r.Status(); ok || msg != "version 1.0.0 not supported" {
		t.Errorf("after a refusal: %v %q", ok, msg)
	}
	if _, err := c.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: true}); err != nil {
		t.Fatal(err)
	}
	if ok, msg := r.Status(); !ok || msg != "" {
		t.Errorf("after registration: %v %q", ok, msg)
	}
}
