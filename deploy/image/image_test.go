package image

import (
	"archive/tar"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestImagePushedAndPulledRunsOnBothPlatforms builds the provider for
// linux/amd64 and linux/arm64 as make build does, makes the image index,
// writes and reads it as an OCI layout, pushes it to a registry (in this
// process), pulls it back by tag and runs each platform's binary from its
// image: natively, or under qemu-user for the other architecture.
func TestImagePushedAndPulledRunsOnBothPlatforms(t *testing.T) {
	dir := t.TempDir()
	bins := map[string]string{}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		out := filepath.Join(dir, strings.ReplaceAll(p, "/", "-"), "vault-azure-csi-provider")
		goos, goarch, _ := strings.Cut(p, "/")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=9.8.7 -X main.commit=0123456789ab", "-o", out, "./cmd/vault-azure-csi-provider")
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building for %s: %v\n%s", p, err, b)
		}
		bins[p] = out
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1790000000, 0)
	idx, err := Build(Options{Binaries: bins, CABundle: ca, Version: "9.8.7", Revision: "0123456789ab", Created: created})
	if err != nil {
		t.Fatal(err)
	}
	lay := filepath.Join(dir, "layout")
	if err := WriteLayout(lay, idx); err != nil {
		t.Fatal(err)
	}
	fromLayout, err := ReadLayout(lay)
	if err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	ref := strings.TrimPrefix(reg.URL, "http://") + "/vaultazure/vault-azure-csi-provider:9.8.7"
	pushed, err := Push(ref, fromLayout)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := idx.Digest(); !strings.HasSuffix(pushed, want.String()) {
		t.Errorf("pushed %s, want the built index %s", pushed, want)
	}

	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(r)
	if err != nil {
		t.Fatalf("pulling %s back: %v", ref, err)
	}
	im, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("the index has %d manifests, want 2", len(im.Manifests))
	}
	if im.Annotations["org.opencontainers.image.version"] != "9.8.7" {
		t.Errorf("index annotations = %v, want version 9.8.7", im.Annotations)
	}
	for _, m := range im.Manifests {
		plat := m.Platform.OS + "/" + m.Platform.Architecture
		t.Run(plat, func(t *testing.T) {
			img, err := pulled.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS+"/"+cf.Architecture != plat || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != BinaryPath || !cf.Created.Time.Equal(created) {
				t.Errorf("config: %s/%s entrypoint %v created %v; want %s, %s, %v", cf.OS, cf.Architecture, cf.Config.Entrypoint, cf.Created, plat, BinaryPath, created)
			}
			files := extract(t, img, filepath.Join(dir, "pulled", m.Platform.Architecture))
			if _, ok := files[CABundlePath]; !ok {
				t.Errorf("no %s in the image (files: %v)", CABundlePath, files)
			}
			out := run(t, m.Platform.Architecture, files[BinaryPath], "--version")
			want := "vault-azure-csi-provider 9.8.7 (commit 0123456789ab, " + runtime.Version() + ", " + plat + ")"
			if strings.TrimSpace(out) != want {
				t.Errorf("--version of the pulled %s binary = %q, want %q", plat, out, want)
			}
		})
	}
}

// extract writes the image's regular files under dir and returns their
// paths by path in the image.
func extract(t *testing.T, img v1.Image, dir string) map[string]string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			dst := filepath.Join(dir, h.Name)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
			files["/"+h.Name] = dst
		}
		rc.Close()
	}
	return files
}

// run runs binary of arch: natively on this machine's architecture, else
// under qemu-user (make image-test installs it; CI must have it).
func run(t *testing.T, arch, binary string, args ...string) string {
	t.Helper()
	var cmd *exec.Cmd
	if arch == runtime.GOARCH {
		cmd = exec.Command(binary, args...)
	} else {
		qemu := qemuFor(arch)
		if qemu == "" {
			if os.Getenv("CI") != "" {
				t.Fatalf("no qemu-user for %s: make image-test installs qemu-user-static (root)", arch)
			}
			t.Skipf("no qemu-user for %s here (make image-test installs qemu-user-static as root)", arch)
		}
		cmd = exec.Command(qemu, append([]string{binary}, args...)...)
	}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("running %s %v: %v\n%s", binary, args, err, b)
	}
	return string(b)
}

func qemuFor(arch string) string {
	names := map[string]string{"arm64": "aarch64", "amd64": "x86_64"}
	for _, n := range []string{"qemu-" + names[arch] + "-static", "qemu-" + names[arch]} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}
