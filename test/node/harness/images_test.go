package harness

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image tarball holds one layer with the files (and their parent
// directories), and the entrypoint, as ctr images import reads it.
func TestBuildImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	err := buildImage("vaultazure.test/xy:1", []imageFile{
		{path: "/bin/prog", mode: 0o755, src: bin},
		{path: "/etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: []byte("CA")},
	}, []string{"/bin/prog"}, out)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("vaultazure.test/xy:1")
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/bin/prog" {
		t.Errorf("config: os %q entrypoint %v", cf.OS, cf.Config.Entrypoint)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = string(data)
		if h.Name == "bin/prog" && h.Mode != 0o755 {
			t.Errorf("bin/prog mode %o", h.Mode)
		}
	}
	for path, want := range map[string]string{"bin/": "", "etc/ssl/certs/": "", "bin/prog": "#!binary", "etc/ssl/certs/ca-certificates.crt": "CA"} {
		if v, ok := got[path]; !ok || v != want {
			t.Errorf("layer entry %s = %q (present %v), want %q", path, v, ok, want)
		}
	}
}
