package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/cmd/vault-azure-csi-provider/setup"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// Step titles, in order.
const (
	stepSPC       = "SecretProviderClass read"
	stepParams    = "parameters valid"
	stepToken     = "service-account token present and not expired"
	stepReachable = "Azure identity endpoint reachable"
	stepAzure     = "Azure token obtained"
	stepVault     = "Vault reachable"
	stepLogin     = "login accepted"
	stepWrite     = "files written"
)

// diagnosis runs the mount one step at a time and explains the first failure.
type diagnosis struct {
	mo *mountOptions
	w  *setup.Wiring
	r  *report

	spc    *spcDoc
	tokens map[string]suppliedToken
	attrs  string
	prm    *params.Params
	areq   *auth.Request
	vault  *vault.Client
	// saClaims are the claims of the service-account token used (if any);
	// azClaims those of the Azure access token (azure auth only).
	saClaims map[string]any
	azClaims map[string]any
	// vaultToken is the Vault token of the login. Never printed.
	vaultToken string
	policies   []string
}

// run performs the steps in order and stops at the first failing one.
func (d *diagnosis) run(ctx context.Context) bool {
	steps := []func(context.Context) bool{
		d.readSPC, d.checkParams, d.checkToken, d.checkReachable, d.checkAzureToken,
		d.checkVault, d.checkLogin, d.mountObjects,
	}
	for _, s := range steps {
		if !s(ctx) {
			return false
		}
	}
	return true
}

func (d *diagnosis) readSPC(context.Context) bool {
	spc, err := loadSPC(d.mo.spcFile, d.mo.spcName)
	if err != nil {
		d.r.fail(stepSPC, err, explanation{fix: "pass the file with the SecretProviderClass in --spc (and --spc-name if it holds several)"})
		return false
	}
	d.spc = spc
	detail := fmt.Sprintf("%q from %s", spc.Metadata.Name, d.mo.spcFile)
	if p := spc.Spec.Provider; p != "vault-azure" {
		detail += fmt.Sprintf(" (note: provider is %q; the driver sends it to this provider only with provider: vault-azure)", p)
	}
	d.r.ok(stepSPC, detail)
	return true
}

func (d *diagnosis) checkParams(context.Context) bool {
	pod := params.Pod{Name: d.mo.podName, Namespace: d.mo.podNamespace, UID: d.mo.podUID, ServiceAccount: d.mo.serviceAccount}
	if pod.Namespace == "" {
		pod.Namespace = d.spc.Metadata.Namespace
	}
	if pod.Name == "" {
		pod.Name = "vault-azure-csi-provider-mount"
	}
	tokens, err := readTokens(d.mo.tokens)
	if err == nil {
		d.tokens = tokens
		d.attrs, err = attributes(d.spc, pod, tokens)
	}
	if err == nil {
		d.prm, err = params.Parse(d.attrs, d.mo.out, "420")
	}
	if err != nil {
		d.r.fail(stepParams, err, explanation{fix: "correct the parameter or flag named in the error"})
		return false
	}
	if e, bad := d.missingPodInfo(); bad {
		d.r.fail(stepParams, nil, e)
		return false
	}
	d.areq = provider.AuthRequest(d.prm, d.vaultAddress())
	d.r.ok(stepParams, d.describeParams())
	return true
}

// missingPodInfo checks the command-line pod details the auth method needs.
func (d *diagnosis) missingPodInfo() (explanation, bool) {
	p := d.prm
	switch {
	case d.vaultAddress() == "":
		return explanation{why: "no Vault address: the SecretProviderClass has no vaultAddress and --vault-addr is empty",
			fix: "set vaultAddress in the SecretProviderClass or pass --vault-addr"}, true
	case p.Pod.Namespace == "":
		return explanation{why: "the pod's namespace is unknown", fix: "pass --pod-namespace (or set metadata.namespace in the SecretProviderClass)"}, true
	case p.Pod.ServiceAccount == "" && (p.AuthMethod != params.MethodAzure || p.Azure.Identity == params.IdentityWorkload):
		return explanation{why: fmt.Sprintf("%s logs in as the pod's service account, and none was given", describeMethod(p)),
			fix: "pass --service-account (the pod's spec.serviceAccountName)"}, true
	case p.AuthMethod == params.MethodAzure && p.Azure.Identity == params.IdentityPodIdentity && d.mo.podName == "":
		return explanation{why: "aad-pod-identity's NMI finds the identity by the pod's name and namespace",
			fix: "pass --pod-name with the name of a pod that has the AzureIdentityBinding's label"}, true
	}
	return explanation{}, false
}

func (d *diagnosis) vaultAddress() string {
	if d.prm != nil && d.prm.VaultAddress != "" {
		return d.prm.VaultAddress
	}
	return d.mo.VaultAddr
}

func (d *diagnosis) describeParams() string {
	p := d.prm
	parts := []string{describeMethod(p),
		fmt.Sprintf("role %q at auth/%s", p.RoleName, p.AuthMountPath),
		"Vault " + d.vaultAddress()}
	if p.VaultNamespace != "" {
		parts = append(parts, "namespace "+p.VaultNamespace)
	}
	if p.AuthMethod == params.MethodAzure {
		if p.Azure.ClientID != "" {
			parts = append(parts, "clientID "+p.Azure.ClientID)
		}
		if t := firstOf(p.Azure.TenantID, d.mo.TenantID); t != "" && p.Azure.Identity == params.IdentityWorkload {
			parts = append(parts, "tenant "+t)
		}
		parts = append(parts, "azureResource "+p.Azure.Resource)
	}
	parts = append(parts, fmt.Sprintf("pod %s/%s (service account %q)", p.Pod.Namespace, p.Pod.Name, p.Pod.ServiceAccount))
	parts = append(parts, fmt.Sprintf("%d objects", len(p.Objects)))
	return strings.Join(parts, ", ")
}

func describeMethod(p *params.Params) string {
	if p.AuthMethod != params.MethodAzure {
		return p.AuthMethod + " auth"
	}
	return map[string]string{
		params.IdentityWorkload:    "azure auth with workload identity",
		params.IdentityManaged:     "azure auth with the node's managed identity",
		params.IdentityPodIdentity: "azure auth with aad-pod-identity",
	}[p.Azure.Identity]
}

// tokenAudience is the audience of the service-account token the login
// uses, or "" when the method uses none.
func (d *diagnosis) tokenAudience() string {
	p := d.prm
	switch {
	case p.AuthMethod == params.MethodAzure && p.Azure.Identity != params.IdentityWorkload:
		return ""
	case p.Audience != "":
		return p.Audience
	case p.AuthMethod == params.MethodAzure:
		return params.DefaultWorkloadAudience
	case len(d.tokens) == 1:
		for aud := range d.tokens {
			return aud
		}
	}
	return params.DefaultServiceAccountAud
}

func (d *diagnosis) checkToken(context.Context) bool {
	aud := d.tokenAudience()
	if aud == "" {
		d.r.skip(stepToken, describeMethod(d.prm)+" uses no service-account token")
		return true
	}
	t, ok := d.tokens[aud]
	if !ok {
		d.r.fail(stepToken, nil, explanation{
			why: fmt.Sprintf("no token for audience %q was given (in the cluster, the driver passes one only if the CSIDriver's tokenRequests lists it)", aud),
			fix: fmt.Sprintf("kubectl create token %s -n %s --audience %s > sa.jwt, then pass --token-file %s=sa.jwt; in the cluster: add {audience: %q} to tokenRequests of the secrets-store.csi.k8s.io CSIDriver",
				orText(d.prm.Pod.ServiceAccount, "SA"), d.prm.Pod.Namespace, aud, aud, aud)})
		return false
	}
	claims, e, bad := checkTokenClaims(t, aud, d.prm.Pod)
	if bad {
		d.r.fail(stepToken, nil, e)
		return false
	}
	d.saClaims = claims
	detail := fmt.Sprintf("audience %s from %s: %s", aud, t.path, auth.DescribeJWT(t.token))
	if !t.expires.IsZero() {
		detail += fmt.Sprintf(" (valid for %s more)", time.Until(t.expires).Round(time.Second))
	}
	d.r.ok(stepToken, detail)
	return true
}

// checkTokenClaims checks that a service-account token is a JWT for aud and
// the pod's service account, and not expired.
func checkTokenClaims(t suppliedToken, aud string, pod params.Pod) (map[string]any, explanation, bool) {
	create := fmt.Sprintf("kubectl create token %s -n %s --audience %s > sa.jwt", orText(pod.ServiceAccount, "SA"), pod.Namespace, aud)
	claims, err := auth.Claims(t.token)
	if err != nil {
		return nil, explanation{why: fmt.Sprintf("%s is not a JWT (%v)", t.path, err), fix: create}, true
	}
	if !t.expires.IsZero() && time.Now().After(t.expires) {
		return nil, explanation{why: fmt.Sprintf("the token in %s expired at %s", t.path, t.expires.Format(time.RFC3339)),
			fix: create + " (in the cluster, requiresRepublish: true on the CSIDriver keeps tokens fresh)"}, true
	}
	if auds := audiences(claims["aud"]); !slices.Contains(auds, aud) {
		return nil, explanation{why: fmt.Sprintf("the token in %s has aud %q, not %q", t.path, auds, aud), fix: create}, true
	}
	want := "system:serviceaccount:" + pod.Namespace + ":" + pod.ServiceAccount
	if sub, _ := claims["sub"].(string); sub != want {
		return nil, explanation{why: fmt.Sprintf("the token in %s is for %q, but the pod runs as %q", t.path, sub, want),
			fix: create + " (or pass the --pod-namespace and --service-account the token belongs to)"}, true
	}
	return claims, explanation{}, false
}

// audiences reads a JWT aud claim, a string or a list.
func audiences(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		out := make([]string, 0, len(a))
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func orText(v, def string) string { return firstOf(v, def) }
