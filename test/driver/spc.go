package driver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// SecretProviderClass is the part of the driver's CRD that the driver uses
// to mount and sync.
type SecretProviderClass struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Provider      string            `json:"provider"`
		Parameters    map[string]string `json:"parameters"`
		SecretObjects []SecretObject    `json:"secretObjects,omitempty"`
	} `json:"spec"`
}

// SecretObject is a Kubernetes Secret that the driver syncs from mounted files.
type SecretObject struct {
	SecretName string             `json:"secretName"`
	Type       string             `json:"type"`
	Labels     map[string]string  `json:"labels,omitempty"`
	Data       []SecretObjectData `json:"data"`
}

// SecretObjectData maps one mounted object to a key of the Secret.
type SecretObjectData struct {
	ObjectName string `json:"objectName"`
	Key        string `json:"key"`
}

// LoadSPCs reads the SecretProviderClass documents of a multi-document YAML
// file (other kinds are skipped).
func LoadSPCs(path string) ([]*SecretProviderClass, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var out []*SecretProviderClass
	for i, doc := range strings.Split(string(raw), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		spc := &SecretProviderClass{}
		if err := yaml.Unmarshal([]byte(doc), spc); err != nil {
			return nil, fmt.Errorf("%s document %d: %w", path, i, err)
		}
		if spc.Kind == "SecretProviderClass" {
			out = append(out, spc)
		}
	}
	return out, nil
}

// SyncedSecret computes the data of the Kubernetes Secret that the driver's
// secret-sync controller would create for so from the files in targetPath.
func SyncedSecret(targetPath string, so SecretObject) (map[string][]byte, error) {
	data := map[string][]byte{}
	for _, d := range so.Data {
		b, err := os.ReadFile(filepath.Join(targetPath, d.ObjectName))
		if err != nil {
			return nil, fmt.Errorf("secret %s key %s: object %q is not mounted: %w", so.SecretName, d.Key, d.ObjectName, err)
		}
		data[d.Key] = b
	}
	return data, nil
}
