package harness

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/vaultazure/vault-azure-csi-provider/deploy/image"
)

// Image references of the node. Pods use imagePullPolicy: Never.
const (
	PauseImage = "vaultazure.test/pause:1"
	AppImage   = "vaultazure.test/app:1"
	// SyncDriveImage plays the Secrets Store Sync Controller (test/cmd/syncdrive).
	SyncDriveImage = "vaultazure.test/syncdrive:1"
	ProviderImage  = "vaultazure.test/vault-azure-csi-provider"
	ProviderTag    = "e2e"
)

// imageFile is one file of an image: its content comes from src (a file on
// disk) or data.
type imageFile struct {
	path string // absolute path in the image
	mode int64
	src  string
	data []byte
}

// buildImage writes a one-layer image made of files, with the entrypoint,
// as a tarball that `ctr images import` reads.
func buildImage(ref string, files []imageFile, entrypoint []string, out string) error {
	layer, err := layerOf(files)
	if err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Now().UTC()}
	cf.Config.Entrypoint = entrypoint
	cf.Config.Env = []string{"PATH=/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, tag, img)
}

// layerOf builds an uncompressed tar of files (parent directories first).
func layerOf(files []imageFile) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := filepath.Dir(f.path); d != "/" && d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		data := f.data
		if f.src != "" {
			var err error
			if data, err = os.ReadFile(f.src); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path[1:], Mode: f.mode, Size: int64(len(data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithCompressionLevel(gzip.BestSpeed))
}

// importImage loads an image tarball into containerd's k8s.io namespace,
// where the kubelet's CRI finds it.
func (c *Cluster) importImage(tarPath string) error {
	out, err := exec.Command(c.ctrBin, "--address", c.containerd, "-n", "k8s.io", "images", "import", tarPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %v: %s", filepath.Base(tarPath), err, out)
	}
	return nil
}

// buildImages builds and imports the pause (sandbox) image, the test app's
// image and the provider's image. The provider's is the release image, as
// make image builds it (deploy/image), from the binary of make build and,
// as the CA bundle, the test world's CA: the Entra ID emulator serves HTTPS
// with it.
func (c *Cluster) buildImages() error {
	images := []struct {
		ref   string
		files []imageFile
		entry []string
	}{
		{PauseImage, []imageFile{{path: "/pause", mode: 0o755, src: c.bin("pause")}}, []string{"/pause"}},
		{AppImage, []imageFile{{path: "/app", mode: 0o755, src: c.bin("app")}}, []string{"/app"}},
		{SyncDriveImage, []imageFile{{path: "/syncdrive", mode: 0o755, src: c.bin("syncdrive")}}, []string{"/syncdrive"}},
	}
	out := c.path("images", "provider.tar")
	if err := c.buildProviderImage(out); err != nil {
		return err
	}
	if err := c.importImage(out); err != nil {
		return err
	}
	for i, im := range images {
		out := c.path("images", fmt.Sprintf("%d.tar", i))
		if err := buildImage(im.ref, im.files, im.entry, out); err != nil {
			return err
		}
		if err := c.importImage(out); err != nil {
			return err
		}
	}
	return nil
}

// buildProviderImage writes, as a tarball that ctr imports, this node's
// platform's image of the index that make image builds.
func (c *Cluster) buildProviderImage(out string) error {
	platform := "linux/" + runtime.GOARCH
	idx, err := image.Build(image.Options{Binaries: map[string]string{platform: c.opts.ProviderBin},
		CABundle: c.World.Info.CAFile, Version: ProviderTag, Revision: "e2e", Created: time.Now()})
	if err != nil {
		return fmt.Errorf("provider image: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Platform == nil || m.Manifests[0].Platform.Architecture != runtime.GOARCH {
		return fmt.Errorf("provider image: the index holds %v, want %s only", m.Manifests, platform)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(ProviderImage + ":" + ProviderTag)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, tag, img)
}
