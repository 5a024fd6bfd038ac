package image

import (
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// WriteLayout writes idx as an OCI image layout into dir (replacing what
// was there): `crane push`, `skopeo copy oci:<dir>` and `ctr images import`
// (of a tar of dir) read it.
func WriteLayout(dir string, idx v1.ImageIndex) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the OCI layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx); err != nil {
		return fmt.Errorf("writing the OCI layout %s: %w", dir, err)
	}
	return nil
}

// ReadLayout returns the image index that WriteLayout wrote into dir.
func ReadLayout(dir string) (v1.ImageIndex, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the OCI layout %s (run make image first): %w", dir, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("the OCI layout %s holds %d indexes, want 1", dir, len(m.Manifests))
	}
	return top.ImageIndex(m.Manifests[0].Digest)
}

// Push pushes idx to ref ("registry/repository:tag") and returns the pushed
// digest. Credentials: IMAGE_REGISTRY_USER and IMAGE_REGISTRY_PASSWORD when
// set (for Azure Container Registry without Docker: the user
// 00000000-0000-0000-0000-000000000000 and the token of az acr login
// --expose-token), else the Docker config's (docker login, crane auth
// login). Registries on localhost are spoken to over plain HTTP.
func Push(ref string, idx v1.ImageIndex) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	if user, pass := os.Getenv("IMAGE_REGISTRY_USER"), os.Getenv("IMAGE_REGISTRY_PASSWORD"); user != "" || pass != "" {
		auth = remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	}
	if err := remote.WriteIndex(r, idx, auth); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	return r.Context().Digest(d.String()).String(), nil
}
