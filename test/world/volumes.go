package world

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
)

// Token audiences the world's CSIDriver requests (tokenRequests).
const (
	AudienceAzure   = "api://AzureADTokenExchange"
	AudienceVault   = "vault"
	AudienceBinding = "api://AKSIdentityBinding"
)

// Volume prepares the driver's view of pod's volume for spc: a fresh target
// directory and service-account tokens for the CSIDriver's audiences.
func (w *World) Volume(spc *driver.SecretProviderClass, pod Pod) (*driver.Volume, error) {
	target, err := os.MkdirTemp(w.Dir, "mount-"+pod.Name+"-")
	if err != nil {
		return nil, err
	}
	return w.VolumeAt(spc, pod, target)
}

// VolumeAt is Volume with a given target directory.
func (w *World) VolumeAt(spc *driver.SecretProviderClass, pod Pod, target string) (*driver.Volume, error) {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return nil, err
	}
	w.Kubelet.Run(pod) // a pod runs before the kubelet mounts its volumes
	exp := time.Now().Add(time.Hour)
	tokens := map[string]string{}
	for _, aud := range []string{AudienceAzure, AudienceVault, AudienceBinding} {
		t, err := w.Cluster.ServiceAccountToken(pod.Namespace, pod.ServiceAccount, aud, pod.Name, pod.UID, time.Hour)
		if err != nil {
			return nil, fmt.Errorf("minting %s token for %s/%s: %w", aud, pod.Namespace, pod.Name, err)
		}
		tokens[aud] = t
	}
	return &driver.Volume{
		SPC:        spc,
		Pod:        driver.Pod{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ServiceAccount: pod.ServiceAccount},
		Tokens:     tokens,
		TokenExp:   exp.UTC().Format(time.RFC3339),
		TargetPath: filepath.Clean(target),
	}, nil
}

// SPC builds a SecretProviderClass for provider vault-azure.
func SPC(name string, parameters map[string]string) *driver.SecretProviderClass {
	spc := &driver.SecretProviderClass{APIVersion: "secrets-store.csi.x-k8s.io/v1", Kind: "SecretProviderClass"}
	spc.Metadata.Name = name
	spc.Spec.Provider = "vault-azure"
	spc.Spec.Parameters = parameters
	return spc
}
