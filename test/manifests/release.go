package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
)

// PackageChart writes the chart's archive (helm package) into dir and
// returns its path, <name>-<version>.tgz.
func PackageChart(chartDir, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := action.NewPackage()
	p.Destination = dir
	out, err := p.Run(chartDir, nil)
	if err != nil {
		return "", fmt.Errorf("packaging %s: %w", chartDir, err)
	}
	return out, nil
}

// PushChart pushes the archive to repo ("oci://registry/path"), as helm push
// does: the chart becomes <repo>/<name>:<version>. Registries on localhost
// are spoken to over plain HTTP; credentials: IMAGE_REGISTRY_USER and
// IMAGE_REGISTRY_PASSWORD when set (as for make push), else those of helm
// registry login. It returns the pushed reference
// and digest.
func PushChart(archive, repo string) (ref, digest string, err error) {
	if !strings.HasPrefix(repo, "oci://") {
		return "", "", fmt.Errorf("chart repository %q: want oci://registry/path", repo)
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		return "", "", err
	}
	ch, err := loader.LoadArchive(strings.NewReader(string(data)))
	if err != nil {
		return "", "", fmt.Errorf("reading %s: %w", archive, err)
	}
	c, err := registryClient(repo)
	if err != nil {
		return "", "", err
	}
	ref = strings.TrimPrefix(strings.TrimSuffix(repo, "/"), "oci://") + "/" + ch.Metadata.Name + ":" + ch.Metadata.Version
	res, err := c.Push(data, ref, registry.PushOptStrictMode(true))
	if err != nil {
		return "", "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	return ref, res.Manifest.Digest, nil
}

// PullChart pulls the chart at ref ("registry/path/name:version") back and
// returns the archive's bytes.
func PullChart(ref string) ([]byte, error) {
	c, err := registryClient(ref)
	if err != nil {
		return nil, err
	}
	res, err := c.Pull(strings.TrimPrefix(ref, "oci://"), registry.PullOptWithChart(true))
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	return res.Chart.Data, nil
}

func registryClient(ref string) (*registry.Client, error) {
	opts := []registry.ClientOption{registry.ClientOptWriter(os.Stderr)}
	host := strings.SplitN(strings.TrimPrefix(ref, "oci://"), "/", 2)[0]
	if h := strings.Split(host, ":")[0]; h == "localhost" || h == "127.0.0.1" {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	if user, pass := os.Getenv("IMAGE_REGISTRY_USER"), os.Getenv("IMAGE_REGISTRY_PASSWORD"); user != "" || pass != "" {
		opts = append(opts, registry.ClientOptBasicAuth(user, pass))
	}
	if home, err := os.UserHomeDir(); err == nil {
		opts = append(opts, registry.ClientOptCredentialsFile(filepath.Join(home, ".config", "helm", "registry", "config.json")))
	}
	return registry.NewClient(opts...)
}
