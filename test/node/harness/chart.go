package harness

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The provider's Helm release.
const (
	ReleaseName      = "vault-azure-csi-provider"
	ReleaseNamespace = "kube-system"
	// ProviderSocket is the socket the chart's DaemonSet serves in providersDir.
	ProviderSocket = "vault-azure.sock"
	// NodeIdentityNamespace may use the node's managed identity.
	NodeIdentityNamespace = "ops"
)

// The provider's own Vault is the world's Vault over HTTPS with a private
// CA, which the chart mounts from a ConfigMap (extraVolumes) and names with
// vault.tls.caCert; the object-version key is a Secret made once
// (versionKey.existingSecret), as with a renderer that has no cluster
// access (helm template, Argo CD).
const (
	VaultCAConfigMap = "vault-ca"
	// TokenProxyCAConfigMap holds the CA of the world's AKS token proxy
	// (its stand-in for the cluster CA of an AKS API server).
	TokenProxyCAConfigMap = "token-proxy-ca"
	VaultCAMountPath      = "/etc/vault-tls/ca"
	VersionKeySecret      = "vault-azure-csi-provider-version-key"
)

// How quickly the node's provider tells a deleted pod is gone.
const (
	PodGoneAfter    = 5 * time.Second
	PodListInterval = time.Second
)

// ChartValues are the values the provider is installed with here: the
// image built from make build, the world's Vault and Azure endpoints, the
// host's network (no CNI here, and the world listens on the host's
// loopback), and health and metrics on 127.0.0.1.
func (c *Cluster) ChartValues() (map[string]any, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	wi := c.World.Info
	extraArgs := []any{
		"--azure-imds-endpoint=" + wi.IMDSURL,
		"--azure-nmi-endpoint=" + wi.NMIURL,
		"--secret-cache-ttl=1s",
		// The fallback for pods of unknown liveness, short so that no test
		// can pass by it: the node's pods have a known liveness.
		"--dynamic-idle-revoke=10s",
	}
	for _, a := range c.opts.ProviderArgs {
		extraArgs = append(extraArgs, a)
	}
	return map[string]any{
		"image":        map[string]any{"repository": ProviderImage, "tag": ProviderTag, "pullPolicy": "Never"},
		"providersDir": c.ProvidersDir,
		"kubeletDir":   c.KubeletRoot,
		// Gone soon after the kubelet stops listing a pod, for the tests.
		"podLiveness":  map[string]any{"enabled": true, "goneAfter": PodGoneAfter.String(), "listInterval": PodListInterval.String()},
		"vault":        map[string]any{"address": wi.VaultTLSAddr, "tls": map[string]any{"caCert": VaultCAMountPath + "/ca.crt"}},
		"extraVolumes": []any{map[string]any{"name": "vault-ca", "configMap": map[string]any{"name": VaultCAConfigMap}}},
		"extraVolumeMounts": []any{
			map[string]any{"name": "vault-ca", "mountPath": VaultCAMountPath, "readOnly": true},
		},
		"versionKey": map[string]any{"existingSecret": VersionKeySecret},
		"azure": map[string]any{
			"tenantID": wi.TenantID, "authorityHost": wi.AuthorityURL,
			"allowNodeIdentityNamespaces": []any{NodeIdentityNamespace},
			// The world's token proxy; its server name is derived, as on AKS.
			"tokenProxy": map[string]any{"url": wi.TokenProxyURL, "caConfigMap": TokenProxyCAConfigMap},
		},
		"logging":     map[string]any{"format": "text", "verbosity": 4},
		"hostNetwork": true,
		"health":      map[string]any{"port": ports[0]},
		"metrics":     map[string]any{"enabled": true, "port": ports[1], "host": "127.0.0.1"},
		"csiDriver":   map[string]any{"create": true},
		"extraArgs":   extraArgs,
		// Any request to a real host goes to the world's proxy, which refuses it.
		"extraEnv": []any{
			map[string]any{"name": "HTTPS_PROXY", "value": wi.ProxyURL},
			map[string]any{"name": "HTTP_PROXY", "value": wi.ProxyURL},
			map[string]any{"name": "NO_PROXY", "value": "127.0.0.1,localhost"},
		},
		"terminationGracePeriodSeconds": 10,
		"shutdownGrace":                 "5s",
	}, nil
}

// RenderChart renders the chart like `helm template` with values.
func RenderChart(chartDir string, values map[string]any) (string, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return "", fmt.Errorf("loading chart %s: %w", chartDir, err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = ReleaseName
	install.Namespace = ReleaseNamespace
	install.DisableHooks = true
	install.KubeVersion = &chartutil.KubeVersion{Version: "v1.34.2", Major: "1", Minor: "34"} // the node's
	rel, err := install.Run(chrt, values)
	if err != nil {
		return "", fmt.Errorf("rendering chart %s: %w", chartDir, err)
	}
	return rel.Manifest, nil
}

// installProvider renders the chart and applies it, then waits for the
// DaemonSet's pod to be ready and its socket to answer in providersDir.
func (c *Cluster) installProvider() error {
	values, err := c.ChartValues()
	if err != nil {
		return err
	}
	manifest, err := RenderChart(c.opts.ChartDir, values)
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.path("chart", "manifest.yaml"), []byte(manifest), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.createProviderInputs(ctx); err != nil {
		return err
	}
	if err := c.Apply(ctx, []byte(manifest)); err != nil {
		return err
	}
	_, err = c.WaitProviderReady(ctx, "")
	return err
}

// ProviderPods lists the DaemonSet's pods.
func (c *Cluster) ProviderPods(ctx context.Context) ([]corev1.Pod, error) {
	l, err := c.Client.CoreV1().Pods(ReleaseNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + ReleaseName,
	})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// WaitProviderReady waits until a provider pod other than notUID is Ready
// and the provider's socket exists, and returns that pod.
func (c *Cluster) WaitProviderReady(ctx context.Context, notUID string) (*corev1.Pod, error) {
	var ready *corev1.Pod
	err := waitFor(2*time.Minute, 250*time.Millisecond, "the provider DaemonSet pod to be ready", func() (bool, error) {
		pods, err := c.ProviderPods(ctx)
		if err != nil {
			return false, err
		}
		for i := range pods {
			p := &pods[i]
			if string(p.UID) == notUID || p.DeletionTimestamp != nil || !podReady(p) {
				continue
			}
			if _, err := os.Stat(filepath.Join(c.ProvidersDir, ProviderSocket)); err != nil {
				return false, err
			}
			ready = p
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return nil, fmt.Errorf("%w\nprovider pods: %s\nkubelet log:\n%s", err, c.describeProviderPods(dctx), c.Logs("kubelet", 3000))
	}
	return ready, nil
}

func (c *Cluster) describeProviderPods(ctx context.Context) string {
	pods, err := c.ProviderPods(ctx)
	if err != nil {
		return err.Error()
	}
	out := ""
	for _, p := range pods {
		out += fmt.Sprintf("\n  %s phase=%s", p.Name, p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			out += fmt.Sprintf(" ready=%v restarts=%d state=%+v", cs.Ready, cs.RestartCount, cs.State)
		}
		ev, _ := c.EventsFor(ctx, p.Namespace, p.Name)
		for _, e := range ev {
			out += "\n    event: " + e
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// createProviderInputs makes what the chart's values name but do not
// create: the private CA's ConfigMap and the version key's Secret (made
// once, as README's GitOps steps say).
func (c *Cluster) createProviderInputs(ctx context.Context) error {
	key := make([]byte, 48)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: VaultCAConfigMap, Namespace: ReleaseNamespace},
		Data: map[string]string{"ca.crt": c.World.Info.VaultCAPEM}}
	if _, err := c.Client.CoreV1().ConfigMaps(ReleaseNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the Vault CA ConfigMap: %w", err)
	}
	cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: TokenProxyCAConfigMap, Namespace: ReleaseNamespace},
		Data: map[string]string{"ca.crt": c.World.Info.TokenProxyCAPEM}}
	if _, err := c.Client.CoreV1().ConfigMaps(ReleaseNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the token proxy's CA ConfigMap: %w", err)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: VersionKeySecret, Namespace: ReleaseNamespace},
		Data: map[string][]byte{"key": []byte(base64.StdEncoding.EncodeToString(key))}}
	if _, err := c.Client.CoreV1().Secrets(ReleaseNamespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the version key Secret: %w", err)
	}
	return nil
}

// ManifestPath is the file of the manifest the chart was installed from.
func (c *Cluster) ManifestPath() string { return c.path("chart", "manifest.yaml") }
