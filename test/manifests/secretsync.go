package manifests

import (
	"encoding/json"
	"fmt"
	"regexp"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// SecretSyncAPIVersion is the Secrets Store Sync Controller's API.
const SecretSyncAPIVersion = "secret-sync.x-k8s.io/v1alpha1"

// SecretSync is secret-sync.x-k8s.io/v1alpha1 SecretSync with the
// controller's field names and the validations of its CRD, for strict
// decoding without the controller's module (the Go module proxy does not
// serve it).
type SecretSync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              SecretSyncSpec `json:"spec"`
}

// SecretSyncSpec is what to sync, with which class and service account.
type SecretSyncSpec struct {
	SecretSyncControllerName string       `json:"secretSyncControllerName,omitempty"`
	SecretProviderClassName  string       `json:"secretProviderClassName"`
	ServiceAccountName       string       `json:"serviceAccountName"`
	SecretObject             SecretObject `json:"secretObject"`
	ForceSynchronization     string       `json:"forceSynchronization,omitempty"`
}

// SecretObject is the Secret the controller writes.
type SecretObject struct {
	Type        string             `json:"type,omitempty"`
	Data        []SecretObjectData `json:"data"`
	Labels      map[string]string  `json:"labels,omitempty"`
	Annotations map[string]string  `json:"annotations,omitempty"`
}

// SecretObjectData maps a file of the provider's answer to a Secret key.
type SecretObjectData struct {
	SourcePath string `json:"sourcePath"`
	TargetKey  string `json:"targetKey"`
}

// DeepCopyObject implements runtime.Object.
func (s *SecretSync) DeepCopyObject() runtime.Object {
	b, _ := json.Marshal(s)
	out := &SecretSync{}
	_ = json.Unmarshal(b, out)
	return out
}

// The CRD's patterns.
var (
	dataKeyPattern = regexp.MustCompile(`^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(\/([0-9]+))*$`)
	dnsNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// validate applies the CRD's schema rules that matter to a provider.
func (s *SecretSync) validate() error {
	for field, v := range map[string]string{"spec.secretProviderClassName": s.Spec.SecretProviderClassName, "spec.serviceAccountName": s.Spec.ServiceAccountName} {
		if !dnsNamePattern.MatchString(v) || len(v) > 253 {
			return fmt.Errorf("SecretSync %s: %s %q is required and must be a DNS name", s.Name, field, v)
		}
	}
	if len(s.Spec.SecretObject.Data) == 0 {
		return fmt.Errorf("SecretSync %s: spec.secretObject.data needs at least one entry", s.Name)
	}
	for _, d := range s.Spec.SecretObject.Data {
		for field, v := range map[string]string{"sourcePath": d.SourcePath, "targetKey": d.TargetKey} {
			if !dataKeyPattern.MatchString(v) || len(v) > 253 {
				return fmt.Errorf("SecretSync %s: %s %q does not match the CRD's pattern (letters, digits, - . _; no slashes): name the object so", s.Name, field, v)
			}
		}
	}
	return nil
}
