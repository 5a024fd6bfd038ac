package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/node/harness"
)

// kubernetes auth (the real plugin doing TokenReview against this
// apiserver) and jwt auth (offline, against the cluster's signing key) both
// log in with the real token the kubelet requested for the pod.
func TestKubernetesAndJWTAuthWithRealTokens(t *testing.T) {
	s := newScenario(t, "t-auth", "web")
	value := randomValue("api")
	s.putSecret("api", map[string]any{"key": value})
	objs := []object{{Name: "api-key", Path: "secret/data/t-auth/api", Key: "key"}}
	s.spc("k8s", map[string]string{"vaultAuthMethod": "kubernetes", "roleName": s.ns, "audience": "vault"}, objs)
	s.spc("jwt", map[string]string{"vaultAuthMethod": "jwt", "vaultAuthMountPath": "jwt", "roleName": s.ns, "audience": "vault"}, objs)

	reviewsBefore := tokenReviews(t, s.ctx)
	loginsBefore := loginsOf(t, s.ctx)[s.subject()]
	s.startPod(appPod{name: "web-k8s", spc: "k8s", files: []string{"api-key"}})
	pod := s.running("web-k8s")
	if l := s.waitOutput(pod, "api-key", 30*time.Second, func(l line) bool { return l.File != "" }); l.Content != value {
		t.Errorf("kubernetes auth: the container read %q (error %q), want %q", l.Content, l.Error, value)
	}
	if tokenReviews(t, s.ctx) <= reviewsBefore {
		t.Errorf("Vault's kubernetes auth logged the pod in without a TokenReview at the apiserver")
	}
	if got := loginsOf(t, s.ctx)[s.subject()] - loginsBefore; got != 1 {
		t.Errorf("kubernetes auth: %d logins as %s, want 1", got, s.subject())
	}

	s.startPod(appPod{name: "web-jwt", spc: "jwt", files: []string{"api-key"}})
	pod = s.running("web-jwt")
	if l := s.waitOutput(pod, "api-key", 30*time.Second, func(l line) bool { return l.File != "" }); l.Content != value {
		t.Errorf("jwt auth: the container read %q (error %q), want %q", l.Content, l.Error, value)
	}
	if got := loginsOf(t, s.ctx)[s.subject()] - loginsBefore; got != 2 {
		t.Errorf("after jwt auth: %d logins as %s, want 2 (one per auth method)", got, s.subject())
	}
}

// The node's managed identity works in the allowlisted namespace and is
// refused, with the provider's explanation, everywhere else.
func TestManagedIdentityOnlyInAllowlistedNamespaces(t *testing.T) {
	ops := newScenario(t, harness.NodeIdentityNamespace, "node-agent")
	other := newScenario(t, "t-managed", "web")
	value := randomValue("ops")
	// The world's role node-agent binds the node's identity (and its VM
	// scale set) to policy shop-web, which reads secret/data/shop/*.
	ops.vaultWrite("secret/data/shop/"+ops.ns+"-agent", map[string]any{"data": map[string]any{"token": value}})
	params := map[string]string{"roleName": "node-agent", "azureIdentity": "managed", "azureVMMetadata": "true"}
	objs := []object{{Name: "token", Path: "secret/data/shop/" + ops.ns + "-agent", Key: "token"}}
	ops.spc("node", params, objs)
	other.spc("node", params, objs)

	ops.startPod(appPod{name: "agent", spc: "node", files: []string{"token"}})
	other.startPod(appPod{name: "agent", spc: "node", files: []string{"token"}})
	pod := ops.running("agent")
	if l := ops.waitOutput(pod, "token", 30*time.Second, func(l line) bool { return l.File != "" }); l.Content != value {
		t.Errorf("managed identity in %s: read %q (error %q), want %q", ops.ns, l.Content, l.Error, value)
	}
	ev, err := node.WaitEvent(other.ctx, other.ns, "agent", "namespaces in --allow-node-identity", 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"FailedMount", "(now ops:*)", `namespace "t-managed" is not one`, "use azureIdentity workload"} {
		if !strings.Contains(ev, w) {
			t.Errorf("event %q lacks %q", ev, w)
		}
	}
}

// tokenReviews counts the TokenReviews the apiserver has answered.
func tokenReviews(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	n, err := node.APIServerRequests(ctx, `resource="tokenreviews"`, `code="201"`)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
