package manifests

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// TestOneVersion: the chart's version and appVersion are the release
// version, and make takes it from there for the binary and the image tag.
func TestOneVersion(t *testing.T) {
	ch, err := loader.Load(ChartDir)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Metadata.Version != ch.Metadata.AppVersion {
		t.Errorf("chart version %s, appVersion %s: release them together", ch.Metadata.Version, ch.Metadata.AppVersion)
	}
	out, err := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "version").Output()
	if err != nil {
		t.Fatalf("make version: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "version "+ch.Metadata.AppVersion+" image ghcr.io/vaultazure/vault-azure-csi-provider:"+ch.Metadata.AppVersion {
		t.Errorf("make version = %q, want the chart's appVersion %s for the binary and the image tag", got, ch.Metadata.AppVersion)
	}
	r := render(t, "")
	if img := r.container(t).Image; img != "ghcr.io/vaultazure/vault-azure-csi-provider:"+ch.Metadata.AppVersion {
		t.Errorf("the chart runs %s, want the image make push makes by default", img)
	}
}

// TestChartPackagedPushedAndPulled packages the chart as helm package does,
// pushes it as an OCI artifact as helm push does to a registry (in this
// process), pulls it back and loads it: the same chart, at its version.
func TestChartPackagedPushedAndPulled(t *testing.T) {
	archive, err := PackageChart(ChartDir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(ChartDir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "vault-azure-csi-provider-" + ch.Metadata.Version + ".tgz"; filepath.Base(archive) != want {
		t.Errorf("archive %s, want %s", filepath.Base(archive), want)
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	repo := "oci://" + strings.TrimPrefix(reg.URL, "http://") + "/charts"
	ref, digest, err := PushChart(archive, repo)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(ref, "/charts/vault-azure-csi-provider:"+ch.Metadata.Version) || !strings.HasPrefix(digest, "sha256:") {
		t.Errorf("pushed %s (%s)", ref, digest)
	}
	data, err := PullChart("oci://" + ref)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if pulled.Metadata.Name != ch.Metadata.Name || pulled.Metadata.Version != ch.Metadata.Version || len(pulled.Templates) != len(ch.Templates) {
		t.Errorf("pulled %s %s with %d templates, want %s %s with %d", pulled.Metadata.Name, pulled.Metadata.Version, len(pulled.Templates),
			ch.Metadata.Name, ch.Metadata.Version, len(ch.Templates))
	}
}
