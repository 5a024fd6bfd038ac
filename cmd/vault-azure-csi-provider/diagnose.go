package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/cmd/vault-azure-csi-provider/setup"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// Step titles, in order.
const (
	stepSPC    = "SecretProviderClass read"
	stepParams = "parameters valid"
	stepToken  = "service-account token present and not expired"
	// Here the auth methods' own steps (auth.Diagnoser), in order.
	stepVault = "Vault reachable"
	stepLogin = "login accepted"
	stepWrite = "files written"
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
	// azClaims those of the credential a method's own steps obtained (the
	// Azure access token of azure auth).
	saClaims map[string]any
	azClaims map[string]any
	// vaultToken is the Vault token of the login. Never printed.
	vaultToken string
	policies   []string
}

// run performs the steps in order and stops at the first failing one.
func (d *diagnosis) run(ctx context.Context) bool {
	steps := []func(context.Context) bool{d.readSPC, d.checkParams, d.checkToken}
	steps = append(steps, d.methodSteps()...)
	steps = append(steps, d.checkVault, d.checkLogin, d.mountObjects)
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
	pod := auth.Pod{Name: d.mo.podName, Namespace: d.mo.podNamespace, UID: d.mo.podUID, ServiceAccount: d.mo.serviceAccount}
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
		d.prm, err = params.Parse(d.attrs, "420", d.w.Manager.Methods())
	}
	if err != nil {
		d.r.fail(stepParams, err, explanation{fix: "correct the parameter or flag named in the error"})
		return false
	}
	if e, bad := d.missingPodInfo(); bad {
		d.r.fail(stepParams, nil, e)
		return false
	}
	d.prm = d.w.Provider.WithDefaults(d.vaultAddress(), d.prm)
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
	case p.Pod.ServiceAccount == "" && d.tokenAudience() != "":
		return explanation{why: fmt.Sprintf("%s logs in as the pod's service account, and none was given", d.describeMethod()),
			fix: "pass --service-account (the pod's spec.serviceAccountName)"}, true
	case isPodIdentity(p) && d.mo.podName == "":
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
	login, methodParts := d.describe()
	parts := []string{login,
		fmt.Sprintf("role %q at auth/%s", p.RoleName, p.AuthMountPath),
		"Vault " + d.vaultAddress()}
	if p.VaultNamespace != "" {
		parts = append(parts, "namespace "+p.VaultNamespace)
	}
	parts = append(parts, methodParts...)
	parts = append(parts, fmt.Sprintf("pod %s/%s (service account %q)", p.Pod.Namespace, p.Pod.Name, p.Pod.ServiceAccount))
	parts = append(parts, fmt.Sprintf("%d objects", len(p.Objects)))
	return strings.Join(parts, ", ")
}

// method is the login's auth method.
func (d *diagnosis) method() auth.Method { return d.w.Manager.Methods()[d.prm.AuthMethod] }

// authRequest is the login request of the mount.
func (d *diagnosis) authRequest() *auth.Request { return provider.AuthRequest(d.prm, d.vaultAddress()) }

// describe names the login and the method's parameters worth showing.
func (d *diagnosis) describe() (string, []string) {
	if dg, ok := d.method().(auth.Diagnoser); ok {
		return dg.Describe(d.authRequest())
	}
	return d.prm.AuthMethod + " auth", nil
}

func (d *diagnosis) describeMethod() string {
	login, _ := d.describe()
	return login
}

// methodSteps are the steps of every method that has its own
// (auth.Diagnoser), by method name: the login's method runs them; for
// another method they are shown as skipped.
func (d *diagnosis) methodSteps() []func(context.Context) bool {
	var steps []func(context.Context) bool
	ms := d.w.Manager.Methods()
	for _, name := range ms.Names() {
		dg, ok := ms[name].(auth.Diagnoser)
		if !ok {
			continue
		}
		for _, st := range dg.DiagnosisSteps() {
			steps = append(steps, func(ctx context.Context) bool {
				if d.prm.AuthMethod != name {
					d.r.skip(st.Title, d.prm.AuthMethod+" auth "+st.NotUsed)
					return true
				}
				dd := &auth.Diagnosis{Request: d.areq, TokenClaims: d.saClaims, CredentialClaims: d.azClaims}
				detail, f := st.Run(ctx, dd)
				d.azClaims = dd.CredentialClaims
				if f != nil {
					d.r.fail(st.Title, f.Err, explanation{why: f.Why, fix: f.Fix})
					return false
				}
				d.r.ok(st.Title, detail)
				return true
			})
		}
	}
	return steps
}

// isPodIdentity reports an azure login as aad-pod-identity, whose NMI
// needs the pod's real name (the one flag only that identity needs).
func isPodIdentity(p *params.Params) bool {
	a, ok := p.MethodParams.(*azure.Params)
	return ok && a != nil && a.Identity == azure.IdentityPodIdentity
}

// tokenAudience is the audience of the service-account token the login
// uses, or "" when the method uses none: the method's own answer.
func (d *diagnosis) tokenAudience() string {
	return d.method().TokenAudience(d.authRequest())
}

func (d *diagnosis) checkToken(context.Context) bool {
	aud := d.tokenAudience()
	if aud == "" {
		d.r.skip(stepToken, d.describeMethod()+" uses no service-account token")
		return true
	}
	t, ok := d.tokens[aud]
	if !ok {
		d.r.fail(stepToken, nil, explanation{
			why: fmt.Sprintf("no token for audience %q was given (in the cluster, the driver passes one only if the CSIDriver's tokenRequests lists it)", aud),
			fix: fmt.Sprintf("kubectl create token %s -n %s --audience %s > sa.jwt, then pass --token-file %s=sa.jwt; in the cluster: add {audience: %q} to tokenRequests of the secrets-store.csi.k8s.io CSIDriver",
				cmp.Or(d.prm.Pod.ServiceAccount, "SA"), d.prm.Pod.Namespace, aud, aud, aud)})
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
func checkTokenClaims(t suppliedToken, aud string, pod auth.Pod) (map[string]any, explanation, bool) {
	create := fmt.Sprintf("kubectl create token %s -n %s --audience %s > sa.jwt", cmp.Or(pod.ServiceAccount, "SA"), pod.Namespace, aud)
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
