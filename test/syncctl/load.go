package syncctl

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
)

// secretSyncDoc is a secret-sync.x-k8s.io/v1alpha1 SecretSync's spec (read
// strictly: a misspelt field fails, as the CRD's schema would refuse it).
type secretSyncDoc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		SecretSyncControllerName string `json:"secretSyncControllerName"`
		ServiceAccountName       string `json:"serviceAccountName"`
		SecretProviderClassName  string `json:"secretProviderClassName"`
		ForceSynchronization     string `json:"forceSynchronization"`
		SecretObject             struct {
			Type        string            `json:"type"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
			Data        []struct {
				SourcePath string `json:"sourcePath"`
				TargetKey  string `json:"targetKey"`
			} `json:"data"`
		} `json:"secretObject"`
	} `json:"spec"`
}

// Load reads the SecretSyncs of a multi-document YAML file, each with the
// SecretProviderClass of the same file that it names (the controller
// looks it up in the SecretSync's namespace).
func Load(path string) ([]*SecretSync, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	spcs, err := driver.LoadSPCs(path)
	if err != nil {
		return nil, err
	}
	var out []*SecretSync
	for _, doc := range strings.Split(string(raw), "\n---") {
		var d secretSyncDoc
		if err := yaml.UnmarshalStrict([]byte(doc), &d); err != nil && strings.Contains(doc, "kind: SecretSync") {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if d.Kind != "SecretSync" {
			continue
		}
		if d.APIVersion != "secret-sync.x-k8s.io/v1alpha1" {
			return nil, fmt.Errorf("%s: SecretSync %s has apiVersion %q, want secret-sync.x-k8s.io/v1alpha1", path, d.Metadata.Name, d.APIVersion)
		}
		ss := &SecretSync{Namespace: d.Metadata.Namespace, Name: d.Metadata.Name, ServiceAccountName: d.Spec.ServiceAccountName}
		for _, spc := range spcs {
			if spc.Metadata.Name == d.Spec.SecretProviderClassName && spc.Metadata.Namespace == d.Metadata.Namespace {
				ss.Class = spc
			}
		}
		if ss.Class == nil {
			return nil, fmt.Errorf("%s: SecretSync %s/%s names SecretProviderClass %q, which the file does not define in its namespace", path, ss.Namespace, ss.Name, d.Spec.SecretProviderClassName)
		}
		for _, r := range d.Spec.SecretObject.Data {
			ss.Data = append(ss.Data, DataRef{SourcePath: r.SourcePath, TargetKey: r.TargetKey})
		}
		out = append(out, ss)
	}
	return out, nil
}
