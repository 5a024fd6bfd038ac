package harness

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// SyncControllerContainer renders the chart as a user installs it for the
// Secrets Store Sync Controller (syncController.enabled, the node's values
// otherwise) and returns the provider container from the ConfigMap that
// the user passes to the controller's chart. The provider's own Vault is
// the world's over HTTPS with a private CA: the controller's pod mounts no
// CA file of ours, so classes name the CA in vaultCAPem.
func (c *Cluster) SyncControllerContainer(healthPort int, pollInterval string) (corev1.Container, error) {
	values, err := c.ChartValues()
	if err != nil {
		return corev1.Container{}, err
	}
	values["vault"] = map[string]any{"address": c.World.Info.VaultTLSAddr}
	delete(values, "extraVolumes")
	delete(values, "extraVolumeMounts")
	values["driver"] = map[string]any{"enabled": false}
	values["syncController"] = map[string]any{"enabled": true, "healthPort": healthPort, "pollInterval": pollInterval}
	manifest, err := RenderChart(c.opts.ChartDir, values)
	if err != nil {
		return corev1.Container{}, err
	}
	objs, err := Decode([]byte(manifest))
	if err != nil {
		return corev1.Container{}, err
	}
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" || o.GetName() != ReleaseName+"-sync-controller" {
			continue
		}
		text, _, _ := unstructured.NestedString(o.Object, "data", "values.yaml")
		var v struct {
			ProviderContainer []corev1.Container `json:"providerContainer"`
		}
		if err := yaml.Unmarshal([]byte(text), &v); err != nil || len(v.ProviderContainer) != 1 {
			return corev1.Container{}, fmt.Errorf("the ConfigMap's values.yaml holds %d provider containers (%v):\n%s", len(v.ProviderContainer), err, text)
		}
		return v.ProviderContainer[0], nil
	}
	return corev1.Container{}, fmt.Errorf("the chart rendered no sync-controller ConfigMap")
}
