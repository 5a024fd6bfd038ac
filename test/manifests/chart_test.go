package manifests

import (
	"os"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

func TestChartLintsCleanly(t *testing.T) {
	for name, values := range map[string]string{
		"defaults":      "",
		"everything on": everythingOn,
	} {
		t.Run(name, func(t *testing.T) {
			vals, err := Values(values)
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := Lint(ChartDir, vals)
			if err != nil {
				t.Fatalf("%v\n%s", err, strings.Join(msgs, "\n"))
			}
			for _, m := range msgs {
				// Strict lint fails on warnings; info-level notes (e.g. "icon is
				// recommended") are all that may remain.
				if !strings.HasPrefix(m, "[INFO]") {
					t.Errorf("lint: %s", m)
				}
			}
		})
	}
}

// everythingOn enables every optional part of the chart.
const everythingOn = `
vault:
  address: "https://vault.vault.svc:8200"
  timeout: 10s
  allowedAddresses: ["https://vault.vault.svc:8200", "https://*.vault.example.com"]
  allowedTLSDirs: ["/etc/vault-tls/{namespace}"]
  namespace: platform
  tls: {caCert: /etc/vault-tls/ca/ca.crt, caDirectory: /etc/vault-tls/ca, serverName: vault.internal, clientCert: /etc/vault-tls/client/tls.crt, clientKey: /etc/vault-tls/client/tls.key}
extraVolumes: [{name: vault-ca, configMap: {name: vault-ca}}, {name: vault-client, secret: {secretName: vault-client}}]
extraVolumeMounts: [{name: vault-ca, mountPath: /etc/vault-tls/ca, readOnly: true}, {name: vault-client, mountPath: /etc/vault-tls/client, readOnly: true}]
azure:
  tenantID: 7f3b1c52-3f0e-4b7a-9a51-6c1f2d9e8a40
  allowNodeIdentityNamespaces: [ops, monitoring]
  nodeIdentities: ["ops:system", "monitoring:0c6b8f2e-5a1d-4c3b-9e7f-1a2b3c4d5e6f"]
  authorityHost: https://login.microsoftonline.us/
providersDir: /etc/kubernetes/secrets-store-csi-providers
metrics:
  serviceMonitor: {enabled: true, labels: {release: prometheus}}
csiDriver: {create: true}
hostNetwork: true
image: {digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
imagePullSecrets: [{name: regcred}]
extraArgs: ["--max-mount-bytes=8388608"]
extraEnv: [{name: NO_PROXY, value: "169.254.169.254,.svc,.cluster.local"}]
podAnnotations: {example.com/team: platform}
serviceAccount: {annotations: {example.com/owner: platform}}
`

func TestChartDefaults(t *testing.T) {
	r := render(t, "")
	if r.kinds["ServiceAccount"] != 1 || r.kinds["DaemonSet"] != 1 || r.kinds["Secret"] != 1 || len(r.kinds) != 3 {
		t.Errorf("default kinds = %v, want one ServiceAccount, one DaemonSet and the version key's Secret (no RBAC, no CSIDriver, no Service)", r.kinds)
	}
	for _, o := range r.objs {
		if sa, ok := o.(*corev1.ServiceAccount); ok && (sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken) {
			t.Error("ServiceAccount must set automountServiceAccountToken: false")
		}
	}
	ds := r.daemonSet(t)
	pod := ds.Spec.Template.Spec
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("pod must set automountServiceAccountToken: false")
	}
	if pod.NodeSelector["kubernetes.io/os"] != "linux" || pod.PriorityClassName != "system-node-critical" || pod.HostNetwork {
		t.Errorf("scheduling: nodeSelector %v priorityClassName %q hostNetwork %v", pod.NodeSelector, pod.PriorityClassName, pod.HostNetwork)
	}
	if len(pod.Tolerations) != 1 || pod.Tolerations[0].Operator != corev1.TolerationOpExists {
		t.Errorf("tolerations = %v, want to tolerate every taint", pod.Tolerations)
	}
	c := r.container(t)
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("securityContext = %+v", sc)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if c.Resources.Requests.Name(res, "").IsZero() || c.Resources.Limits.Name(res, "").IsZero() {
			t.Errorf("%s needs a request and a limit: %+v", res, c.Resources)
		}
	}
	checkSocketAndProbes(t, r, "/var/run/secrets-store-csi-providers", "")
	for _, arg := range []string{"--health-addr=:8096", "--metrics-addr=:8097", "--log-format=json"} {
		if !hasArg(c, arg) {
			t.Errorf("args %q lack %s", c.Args, arg)
		}
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--vault-addr") || strings.HasPrefix(a, "--allow-node-identity-namespaces") || strings.HasPrefix(a, "--azure-tenant-id") {
			t.Errorf("default args set %s; defaults must be empty", a)
		}
	}
}

// checkSocketAndProbes checks that the socket lands in the providers
// directory and the probes use the health port on healthHost (the pod IP
// when empty).
func checkSocketAndProbes(t *testing.T, r *rendered, providersDir, healthHost string) {
	t.Helper()
	pod := r.daemonSet(t).Spec.Template.Spec
	c := r.container(t)
	var hostPaths []corev1.Volume
	for _, v := range pod.Volumes {
		if v.HostPath != nil && v.Name != podResourcesVolume && v.Name != stateVolume {
			hostPaths = append(hostPaths, v)
		}
	}
	if len(hostPaths) != 1 || hostPaths[0].HostPath.Path != providersDir {
		t.Fatalf("volumes = %+v, want one hostPath besides the kubelet's pod-resources and the state: %s", pod.Volumes, providersDir)
	}
	mount, ok := volumeMount(c, hostPaths[0].Name)
	if !ok || !hasArg(c, "--endpoint="+mount.MountPath+"/vault-azure.sock") {
		t.Errorf("the socket must be <mountPath>/vault-azure.sock: mounts %+v args %q", c.VolumeMounts, c.Args)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.StrVal != "health" || probe.HTTPGet.Host != healthHost {
			t.Errorf("probe for %s = %+v, want port health on host %q", path, probe, healthHost)
		}
	}
	if !hasArg(c, "--health-addr="+healthHost+":"+strconv.Itoa(int(ports["health"]))) {
		t.Errorf("the health port %d is not the one in --health-addr: %q", ports["health"], c.Args)
	}
}

// podResourcesVolume is the kubelet's pod-resources directory (pod
// liveness); stateVolume the directory of the state file.
const (
	podResourcesVolume = "pod-resources"
	stateVolume        = "state"
)

// TestChartStateFile: by default the dynamic secrets' state file lives in a
// hostPath of state.hostDir, where --state-file points; without the version
// key the chart refuses to render; state.enabled false drops both.
func TestChartStateFile(t *testing.T) {
	check := func(r *rendered, hostDir string) {
		t.Helper()
		c := r.container(t)
		vol := r.volume(t, stateVolume)
		if hostDir == "" {
			for _, a := range c.Args {
				if strings.HasPrefix(a, "--state-file") || vol != nil {
					t.Errorf("state off: volume %+v, args %q", vol, c.Args)
				}
			}
			return
		}
		m, ok := volumeMount(c, stateVolume)
		if vol == nil || vol.HostPath == nil || vol.HostPath.Path != hostDir || !ok || m.ReadOnly ||
			!hasArg(c, "--state-file="+m.MountPath+"/dynamic-secrets.state") || !hasArg(c, "--version-key-file=/etc/vault-azure-csi-provider/version-key/key") {
			t.Errorf("state volume %+v, mount %+v, args %q", vol, m, c.Args)
		}
	}
	check(render(t, ""), "/var/lib/vault-azure-csi-provider")
	check(render(t, "state: {hostDir: /data/vacp}\n"), "/data/vacp")
	check(render(t, "state: {enabled: false}\n"), "")
	vals, err := Values("versionKey: {create: false}\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Render(ChartDir, ReleaseName, ReleaseNamespace, vals); err == nil || !strings.Contains(err.Error(), "state.enabled needs the object-version key") {
		t.Errorf("rendering state without a version key: %v, want the chart to refuse", err)
	}
}

// volume returns the DaemonSet's pod volume named name, or nil.
func (r *rendered) volume(t *testing.T, name string) *corev1.Volume {
	t.Helper()
	vols := r.daemonSet(t).Spec.Template.Spec.Volumes
	for i := range vols {
		if vols[i].Name == name {
			return &vols[i]
		}
	}
	return nil
}

// checkPodLiveness: with podLiveness on, the only other hostPath is the
// kubelet's pod-resources directory under kubeletDir, mounted read-only
// where --kubelet-pod-resources-socket points, and the provider knows its
// own pod (--self-pod from the downward API); off, no such hostPath and
// an empty socket flag.
func checkPodLiveness(t *testing.T, r *rendered, kubeletDir string, enabled bool) {
	t.Helper()
	c := r.container(t)
	vol := r.volume(t, podResourcesVolume)
	if !enabled {
		if vol != nil || !hasArg(c, "--kubelet-pod-resources-socket=") {
			t.Errorf("podLiveness off: volume %+v, args %q", vol, c.Args)
		}
		return
	}
	if vol == nil || vol.HostPath == nil || vol.HostPath.Path != kubeletDir+"/pod-resources" {
		t.Fatalf("pod-resources volume = %+v, want hostPath %s/pod-resources", vol, kubeletDir)
	}
	m, ok := volumeMount(c, podResourcesVolume)
	if !ok || !m.ReadOnly || !hasArg(c, "--kubelet-pod-resources-socket="+m.MountPath+"/kubelet.sock") || !hasArg(c, "--self-pod=$(POD_NAMESPACE)/$(POD_NAME)") {
		t.Errorf("pod-resources mount %+v (want read-only, the socket flag pointing into it), args %q", m, c.Args)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_NAME"] != "metadata.name" || env["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("env %v lacks the downward API's pod name and namespace", c.Env)
	}
}

func TestChartPodLiveness(t *testing.T) {
	checkPodLiveness(t, render(t, ""), "/var/lib/kubelet", true)
	r := render(t, "kubeletDir: /data/kubelet\npodLiveness: {goneAfter: 1m, listInterval: 5s}\n")
	checkPodLiveness(t, r, "/data/kubelet", true)
	for _, a := range []string{"--pod-gone-after=1m", "--pod-list-interval=5s"} {
		if !hasArg(r.container(t), a) {
			t.Errorf("args lack %s", a)
		}
	}
	checkPodLiveness(t, render(t, "podLiveness: {enabled: false}\n"), "", false)
}

func TestChartOptions(t *testing.T) {
	r := render(t, everythingOn)
	for _, kind := range []string{"ServiceAccount", "DaemonSet", "Service", "ServiceMonitor", "CSIDriver"} {
		if r.kinds[kind] != 1 {
			t.Errorf("%s rendered %d times, want 1 (kinds %v)", kind, r.kinds[kind], r.kinds)
		}
	}
	c := r.container(t)
	for _, arg := range []string{
		"--vault-addr=https://vault.vault.svc:8200", "--vault-timeout=10s",
		"--azure-tenant-id=7f3b1c52-3f0e-4b7a-9a51-6c1f2d9e8a40", "--allow-node-identity-namespaces=ops,monitoring",
		"--azure-authority-host=https://login.microsoftonline.us/", "--max-mount-bytes=8388608",
		"--allow-node-identity=ops:system,monitoring:0c6b8f2e-5a1d-4c3b-9e7f-1a2b3c4d5e6f",
		"--allowed-vault-addresses=https://vault.vault.svc:8200,https://*.vault.example.com", "--allowed-tls-dirs=/etc/vault-tls/{namespace}",
		"--vault-namespace=platform", "--vault-tls-ca-cert=/etc/vault-tls/ca/ca.crt", "--vault-tls-ca-directory=/etc/vault-tls/ca",
		"--vault-tls-server-name=vault.internal", "--vault-tls-client-cert=/etc/vault-tls/client/tls.crt", "--vault-tls-client-key=/etc/vault-tls/client/tls.key",
	} {
		if !hasArg(c, arg) {
			t.Errorf("args %q lack %s", c.Args, arg)
		}
	}
	// The extra volumes are the pod's, mounted where the TLS flags point.
	vols := map[string]corev1.Volume{}
	for _, v := range r.daemonSet(t).Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	if v := vols["vault-ca"]; v.ConfigMap == nil || v.ConfigMap.Name != "vault-ca" {
		t.Errorf("volume vault-ca = %+v, want the ConfigMap vault-ca", v)
	}
	if v := vols["vault-client"]; v.Secret == nil || v.Secret.SecretName != "vault-client" {
		t.Errorf("volume vault-client = %+v, want the Secret vault-client", v)
	}
	for name, path := range map[string]string{"vault-ca": "/etc/vault-tls/ca", "vault-client": "/etc/vault-tls/client"} {
		if m, ok := volumeMount(c, name); !ok || m.MountPath != path || !m.ReadOnly {
			t.Errorf("mount of %s = %+v, want %s read-only", name, m, path)
		}
	}
	if !strings.HasSuffix(c.Image, "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") {
		t.Errorf("image %q does not use the digest", c.Image)
	}
	// In the node's network the health server stays on the node's loopback,
	// where the kubelet probes it.
	checkSocketAndProbes(t, r, "/etc/kubernetes/secrets-store-csi-providers", "127.0.0.1")
	pod := r.daemonSet(t).Spec.Template.Spec
	if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("hostNetwork %v dnsPolicy %q", pod.HostNetwork, pod.DNSPolicy)
	}
	for _, o := range r.objs {
		if d, ok := o.(*storagev1.CSIDriver); ok {
			checkCSIDriver(t, d)
		}
	}
}

func checkCSIDriver(t *testing.T, d *storagev1.CSIDriver) {
	t.Helper()
	var auds []string
	for _, tr := range d.Spec.TokenRequests {
		auds = append(auds, tr.Audience)
	}
	if d.Name != "secrets-store.csi.k8s.io" || strings.Join(auds, ",") != "api://AzureADTokenExchange,api://AKSIdentityBinding,vault" {
		t.Errorf("CSIDriver %s tokenRequests %v", d.Name, auds)
	}
	if d.Spec.PodInfoOnMount == nil || !*d.Spec.PodInfoOnMount || d.Spec.RequiresRepublish == nil || !*d.Spec.RequiresRepublish {
		t.Errorf("CSIDriver needs podInfoOnMount and requiresRepublish: %+v", d.Spec)
	}
}

func TestChartNotesSayWhatToDoNext(t *testing.T) {
	r := render(t, "")
	for _, want := range []string{"rollout status daemonset/vault-azure-csi-provider", "tokenRequests", "api://AzureADTokenExchange",
		"No default Vault address", "vault-azure-csi-provider mount --spc"} {
		if !strings.Contains(r.notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, r.notes)
		}
	}
	if n := render(t, everythingOn).notes; strings.Contains(n, "No default Vault address") || strings.Contains(n, "No default tenant") {
		t.Errorf("NOTES warn about values that are set:\n%s", n)
	}
}

func TestDeployManifestIsRenderedFromTheChart(t *testing.T) {
	want, err := DeployManifest(ChartDir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(DeployFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is stale: run make manifests", DeployFile)
	}
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dec.DecodeFile(DeployFile); err != nil {
		t.Fatal(err)
	}
}

func TestChartRefusesBadValues(t *testing.T) {
	// schema: refused by values.schema.json, so helm lint refuses them too;
	// the others by the templates (fail), which helm lint reports as info.
	tests := map[string]struct {
		values string
		schema bool
	}{
		"misspelt top-level value":            {"vaul: {address: https://vault:8200}", true},
		"misspelt nested value":               {"azure: {tenantId: x}", true},
		"port that is no number":              {"health: {port: eighty}", true},
		"vault address not a URL":             {"vault: {address: vault.example.com}", true},
		"log format":                          {"logging: {format: xml}", true},
		"relative providersDir":               {"providersDir: var/run/providers", true},
		"relative CA path":                    {"vault: {address: https://vault:8200, tls: {caCert: ca.crt}}", true},
		"extra mount without a path":          {"extraVolumeMounts: [{name: x}]", true},
		"Vault TLS without vault.address":     {"vault: {tls: {caCert: /etc/vault-tls/ca.crt}}", false},
		"client cert without its key":         {"vault: {address: https://vault:8200, tls: {clientCert: /etc/vault-tls/tls.crt}}", false},
		"CA file the controller's pod lacks":  {"syncController: {enabled: true}\nvault: {address: https://vault:8200, tls: {caCert: /etc/vault-tls/ca.crt}}", false},
		"sync controller without version key": {"syncController: {enabled: true}\nversionKey: {create: false}", false},
		"sync poll interval not a duration":   {"syncController: {enabled: true, pollInterval: daily}", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			vals, err := Values(tc.values)
			if err != nil {
				t.Fatal(err)
			}
			// As helm install renders (with a cluster to look up the version
			// key): the refusal is the values', not the offline render's.
			if _, _, err := RenderInstall(ChartDir, ReleaseName, ReleaseNamespace, vals, false); err == nil {
				t.Errorf("values %q rendered; the chart must refuse them", tc.values)
			}
			if _, err := Lint(ChartDir, vals); tc.schema && err == nil {
				t.Errorf("helm lint accepted values %q", tc.values)
			}
		})
	}
}

// TestChartTokenProxy: the provider pods get the cluster CA for the AKS
// token proxy (identity bindings) from the kube-root-ca.crt ConfigMap —
// optional, so a cluster without it still starts the provider — and no
// service-account token; the proxy's URL and server name are flags only
// when set.
func TestChartTokenProxy(t *testing.T) {
	r := render(t, "")
	c := r.container(t)
	var ca *corev1.Volume
	for _, v := range r.daemonSet(t).Spec.Template.Spec.Volumes {
		if v.Name == "cluster-ca" {
			ca = &v
		}
	}
	if ca == nil || ca.ConfigMap == nil || ca.ConfigMap.Name != "kube-root-ca.crt" || ca.ConfigMap.Optional == nil || !*ca.ConfigMap.Optional ||
		len(ca.ConfigMap.Items) != 1 || ca.ConfigMap.Items[0].Key != "ca.crt" {
		t.Fatalf("cluster-ca volume = %+v, want the optional ConfigMap kube-root-ca.crt's ca.crt", ca)
	}
	m, ok := volumeMount(c, "cluster-ca")
	if !ok || !m.ReadOnly || !hasArg(c, "--azure-token-proxy-ca-file="+m.MountPath+"/ca.crt") {
		t.Errorf("mount %+v, args %q: --azure-token-proxy-ca-file must name the mounted ca.crt", m, c.Args)
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--azure-token-proxy-url") || strings.HasPrefix(a, "--azure-token-proxy-server-name") {
			t.Errorf("default args set %s", a)
		}
	}
	r = render(t, "azure:\n  tokenProxy:\n    url: https://10.0.0.1:443\n    serverName: abc.ests.aks\n    caConfigMap: \"\"\n")
	c = r.container(t)
	for _, arg := range []string{"--azure-token-proxy-url=https://10.0.0.1:443", "--azure-token-proxy-server-name=abc.ests.aks"} {
		if !hasArg(c, arg) {
			t.Errorf("args %q lack %s", c.Args, arg)
		}
	}
	if _, ok := volumeMount(c, "cluster-ca"); ok {
		t.Error("caConfigMap empty must mount no CA")
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--azure-token-proxy-ca-file") {
			t.Errorf("caConfigMap empty must leave the flag at its default, got %s", a)
		}
	}
}
