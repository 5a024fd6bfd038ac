// Package image builds the provider's container image without a container
// engine: a multi-platform OCI image index whose images hold one layer
// each (the static binary and a CA bundle), written to an OCI layout and
// pushed to a registry with go-containerregistry.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BinaryPath is where the provider's binary is in the image (the chart runs
// the image's entrypoint).
const BinaryPath = "/bin/vault-azure-csi-provider"

// CABundlePath is where the trusted roots are: Go's crypto/x509 reads it on
// Linux, for Entra ID and a Vault with a public certificate.
const CABundlePath = "/etc/ssl/certs/ca-certificates.crt"

// Options describe the image.
type Options struct {
	// Binaries maps a platform ("linux/amd64") to the provider binary built
	// for it (CGO_ENABLED=0: the image has no libc).
	Binaries map[string]string
	// CABundle is a PEM file of trusted roots copied into every image.
	CABundle string
	Version  string // release version (the chart's appVersion)
	Revision string // commit
	Source   string // repository URL
	// Created is the images' creation time and every file's modification
	// time (the commit's time makes the build reproducible).
	Created time.Time
}

// Build returns the image index of opts.Binaries' platforms, in platform
// order.
func Build(opts Options) (v1.ImageIndex, error) {
	if len(opts.Binaries) == 0 {
		return nil, fmt.Errorf("no binaries: give at least one platform")
	}
	ca, err := os.ReadFile(opts.CABundle)
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle: %w", err)
	}
	if !bytes.Contains(ca, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("%s holds no PEM certificate", opts.CABundle)
	}
	platforms := make([]string, 0, len(opts.Binaries))
	for p := range opts.Binaries {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	for _, p := range platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil || plat.OS == "" || plat.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch such as linux/arm64", p)
		}
		img, err := platformImage(opts, *plat, opts.Binaries[p], ca)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	return mutate.Annotations(idx, annotations(opts)).(v1.ImageIndex), nil
}

func annotations(opts Options) map[string]string {
	a := map[string]string{
		"org.opencontainers.image.title":       "vault-azure-csi-provider",
		"org.opencontainers.image.description": "Secrets Store CSI Driver provider for HashiCorp Vault with Azure identities",
		"org.opencontainers.image.version":     opts.Version,
		"org.opencontainers.image.revision":    opts.Revision,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     opts.Created.UTC().Format(time.RFC3339),
	}
	if opts.Source != "" {
		a["org.opencontainers.image.source"] = opts.Source
	}
	return a
}

func platformImage(opts Options, plat v1.Platform, binary string, ca []byte) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	layer, err := layer(opts.Created, []file{
		{path: BinaryPath, mode: 0o755, data: bin},
		{path: CABundlePath, mode: 0o644, data: ca},
	})
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer}); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = v1.Time{Time: opts.Created.UTC()}
	cf.Config.Entrypoint = []string{BinaryPath}
	cf.Config.Env = []string{"PATH=/bin", "SSL_CERT_FILE=" + CABundlePath}
	cf.Config.Labels = annotations(opts)
	return mutate.ConfigFile(img, cf)
}

// file is one file of the layer.
type file struct {
	path string
	mode int64
	data []byte
}

// layer is a gzipped tar of files and their parent directories, owned by
// root, all with time t.
func layer(t time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		parts := strings.Split(strings.TrimPrefix(f.path, "/"), "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: t, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.path, "/"), Mode: f.mode, Size: int64(len(f.data)), ModTime: t, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}
