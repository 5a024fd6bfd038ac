package e2e

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// The Vault side of the HashiCorp-style classes in testdata.
const (
	corpusPasswordV1 = "hc-password-v1"
	corpusPasswordV2 = "hc-password-v2"
	corpusBlob       = "\x00binary\xffblob"
	corpusKV1Token   = "hc-kv1-token"
	corpusNSPassword = "hc-namespaced-password"
)

var corpusOnce sync.Once

// setupCorpus prepares Vault for testdata/hashicorp-classes.yaml: a
// kubernetes-auth role "corpus" for the HashiCorp example pod at
// auth/kubernetes and auth/k8s-east, a KV v2 secret with two versions, a KV
// v1 secret, a database engine, and a namespace "hc" with its own auth.
func setupCorpus(t *testing.T) {
	t.Helper()
	corpusOnce.Do(func() {
		v := theWorld.Vault
		ensureDatabase(t)
		must(t, v.EnableAuth("", "k8s-east", "kubernetes"))
		must(t, v.PutPolicy("", "hashicorp-corpus", `
path "secret/data/hashicorp/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/hashicorp/*" { capabilities = ["read"] }
path "secret/subkeys/hashicorp/*" { capabilities = ["read"] }
path "kv/hashicorp/*" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["read"] }
path "pki/issue/web" { capabilities = ["create", "update"] }
`))
		must(t, v.CreateNamespace("hc"))
		must(t, v.EnableSecrets("hc", "secret", "kv", map[string]string{"version": "2"}))
		must(t, v.EnableAuth("hc", "kubernetes", "kubernetes"))
		must(t, v.PutPolicy("hc", "team", `path "secret/data/team/*" { capabilities = ["read"] }`))
		root, err := theWorld.Root()
		must(t, err)
		jwtConfig := map[string]any{"jwt_validation_pubkeys": []string{theWorld.Cluster.PublicKeyPEM()}, "bound_issuer": world.ClusterIssuerURL}
		role := func(policy string) map[string]any {
			return map[string]any{"role_type": "jwt", "bound_audiences": "vault", "user_claim": "sub",
				"bound_subject": world.HashiCorpPod.Subject(), "token_policies": policy, "token_ttl": "1h"}
		}
		writes := []struct {
			ns, path string
			data     map[string]any
		}{
			{"", "auth/kubernetes/role/corpus", role("hashicorp-corpus")},
			{"", "auth/k8s-east/config", jwtConfig},
			{"", "auth/k8s-east/role/corpus", role("hashicorp-corpus")},
			{"", "secret/data/hashicorp/db", map[string]any{"data": map[string]any{"password": corpusPasswordV1}}},
			{"", "secret/data/hashicorp/db", map[string]any{"data": map[string]any{
				"password": corpusPasswordV2, "b64": base64.StdEncoding.EncodeToString([]byte(corpusBlob))}}},
			{"", "kv/hashicorp/app", map[string]any{"token": corpusKV1Token}},
			{"", "database/roles/app", map[string]any{"db_name": "pg", "default_ttl": "1h", "max_ttl": "24h"}},
			{"hc", "auth/kubernetes/config", jwtConfig},
			{"hc", "auth/kubernetes/role/corpus", role("team")},
			{"hc", "secret/data/team/db", map[string]any{"data": map[string]any{"password": corpusNSPassword}}},
		}
		for _, w := range writes {
			root.SetNamespace(w.ns)
			if _, err := root.Logical().Write(w.path, w.data); err != nil {
				t.Fatalf("writing %s in namespace %q: %v", w.path, w.ns, err)
			}
		}
	})
}

// TestHashiCorpClassesMountUnchanged mounts every class of
// testdata/hashicorp-classes.yaml, written for provider: vault, with
// provider: vault-azure and the world's vaultAddress, and checks each file.
func TestHashiCorpClassesMountUnchanged(t *testing.T) {
	setupCorpus(t)
	spcs, err := driver.LoadSPCs("testdata/hashicorp-classes.yaml")
	must(t, err)
	tlsAddr, certFile, keyFile := tlsVault(t)
	checks := corpusChecks(t)
	for _, spc := range spcs {
		t.Run(spc.Metadata.Name, func(t *testing.T) {
			check, ok := checks[spc.Metadata.Name]
			if !ok {
				t.Fatalf("no check for class %s", spc.Metadata.Name)
			}
			if spc.Spec.Provider != "vault" {
				t.Fatalf("class %s is not written for HashiCorp's provider: provider %q", spc.Metadata.Name, spc.Spec.Provider)
			}
			spc.Spec.Provider = "vault-azure"
			p := spc.Spec.Parameters
			p["vaultAddress"] = theWorld.Vault.Addr()
			pod := world.HashiCorpPod
			if spc.Metadata.Name == "tls" {
				p["vaultAddress"], p["vaultCACertPath"] = tlsAddr, theWorld.CAFile
				p["vaultTLSClientCertPath"], p["vaultTLSClientKeyPath"] = certFile, keyFile
				pod = world.WebPod // the TLS Vault's jwt role binds the web pod
			}
			vol, versions, err := mount(t, prov, spc, pod, nil)
			if err != nil {
				t.Fatalf("mount: %v", err)
			}
			if len(versions) == 0 {
				t.Fatal("no object versions")
			}
			check(t, vol)
		})
	}
}

// corpusChecks returns, per class name, what its mounted files must hold.
func corpusChecks(t *testing.T) map[string]func(*testing.T, *driver.Volume) {
	files := func(want map[string]string) func(*testing.T, *driver.Volume) {
		return func(t *testing.T, v *driver.Volume) {
			for name, content := range want {
				if got := readFile(t, v, name); got != content {
					t.Errorf("%s = %q, want %q", name, got, content)
				}
			}
		}
	}
	return map[string]func(*testing.T, *driver.Volume){
		"kv-v2":          files(map[string]string{"with-data": corpusPasswordV2, "without-data": corpusPasswordV2}),
		"v1-prefix":      files(map[string]string{"leading-slash": corpusPasswordV2, "no-leading-slash": corpusPasswordV2}),
		"kv-v2-versions": files(map[string]string{"version-1": corpusPasswordV1, "version-2": corpusPasswordV2}),
		"kv-v2-metadata": files(map[string]string{"current-version": "2", "keys": `{"b64":null,"password":null}`}),
		"kv-v1":          files(map[string]string{"token": corpusKV1Token}),
		"pki-issue": func(t *testing.T, v *driver.Volume) {
			if _, err := tls.X509KeyPair([]byte(readFile(t, v, "tls.crt")), []byte(readFile(t, v, "tls.key"))); err != nil {
				t.Errorf("certificate and key are not a pair: %v", err)
			}
		},
		"database-creds": checkDatabaseCreds,
		"whole-secret": func(t *testing.T, v *driver.Volume) {
			var whole struct {
				Data struct {
					Data map[string]string `json:"data"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(readFile(t, v, "db.json")), &whole); err != nil || whole.Data.Data["password"] != corpusPasswordV2 {
				t.Errorf("db.json: %v %+v", err, whole)
			}
		},
		"encoding-and-mode": func(t *testing.T, v *driver.Volume) {
			files(map[string]string{"blob": corpusBlob})(t, v)
			fi, err := os.Stat(filepath.Join(v.TargetPath, "blob"))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("blob mode: %v %v, want 0600", fi.Mode(), err)
			}
		},
		"auth-mount-path":       files(map[string]string{"password": corpusPasswordV2}),
		"kubernetes-mount-path": files(map[string]string{"password": corpusPasswordV2}),
		"audience":              files(map[string]string{"password": corpusPasswordV2}),
		"namespace":             files(map[string]string{"password": corpusNSPassword}),
		// Vault ignores a GET's body: the latest version, not version 1.
		"get-with-secret-args": files(map[string]string{"password": corpusPasswordV2}),
		"nested-secret-args":   checkNestedArgs,
		"tls":                  files(map[string]string{"value": "over-mtls"}),
	}
}

// checkDatabaseCreds: both files come from one lease, a live user of the
// database engine.
func checkDatabaseCreds(t *testing.T, v *driver.Volume) {
	user, password := readFile(t, v, "dbUsername"), readFile(t, v, "dbPassword")
	users, err := theWorld.Vault.DatabaseUsers("", "database")
	must(t, err)
	for _, u := range users {
		if u.Username == user && u.Revoked.IsZero() {
			if password == "" {
				t.Error("empty password")
			}
			return
		}
	}
	t.Errorf("username %q is not a live user of the database engine (%d users)", user, len(users))
}

// checkNestedArgs: the nested secretArgs reached Vault as that JSON, so the
// real KV v2 plugin stored the list and the map.
func checkNestedArgs(t *testing.T, v *driver.Volume) {
	if got := readFile(t, v, "written-version"); got == "" || strings.Trim(got, "0123456789") != "" {
		t.Errorf("written-version = %q, want the new version number", got)
	}
	root, err := theWorld.Root()
	must(t, err)
	s, err := root.Logical().Read("secret/data/hashicorp/written")
	must(t, err)
	got, _ := json.Marshal(s.Data["data"])
	if want := `{"list":["a",{"b":"c"}],"nested":{"k":"v"}}`; string(got) != want {
		t.Errorf("stored %s, want %s", got, want)
	}
}

// TestDropInRequestCounts: a cold Mount of 10 KV v2 objects makes 1 login,
// 1 mount lookup and 10 reads, with the same secret written three ways
// read once; concurrent cold Mounts share the lookup and the login.
func TestDropInRequestCounts(t *testing.T) {
	setupCorpus(t)
	root, err := theWorld.Root()
	must(t, err)
	var objects strings.Builder
	for i := range 10 {
		k := "k" + string(rune('0'+i))
		_, err := root.Logical().Write("secret/data/hashicorp/"+k, map[string]any{"data": map[string]any{"v": "value-" + k}})
		must(t, err)
		objects.WriteString("- objectName: " + k + "\n  secretPath: secret/hashicorp/" + k + "\n  secretKey: v\n")
	}
	// The same secret as k0, written as HashiCorp users do.
	objects.WriteString("- objectName: k0-data\n  secretPath: secret/data/hashicorp/k0\n  secretKey: v\n")
	objects.WriteString("- objectName: k0-v1\n  secretPath: /v1/secret/data/hashicorp/k0\n  secretKey: v\n")
	spc := world.SPC("counts", map[string]string{"roleName": "corpus", "objects": objects.String()})

	for _, concurrent := range []int{1, 8} {
		p, err := theWorld.StartProvider("--secret-cache-ttl=0")
		must(t, err)
		resetCounters()
		var wg sync.WaitGroup
		errs := make(chan error, concurrent)
		for range concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, _, err := mount(t, p, spc, world.HashiCorpPod, nil)
				if err == nil && (readFile(t, v, "k0") != "value-k0" || readFile(t, v, "k0-data") != "value-k0" || readFile(t, v, "k9") != "value-k9") {
					t.Error("wrong content")
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("mount: %v", err)
			}
		}
		must(t, p.Stop())
		st := theWorld.Vault.Stats()
		lookups, reads := int64(0), int64(0)
		for path, n := range st.ByPath {
			switch {
			case strings.HasPrefix(path, "sys/internal/ui/mounts/"):
				lookups += n
			case strings.HasPrefix(path, "secret/data/hashicorp/k"):
				reads += n
				if n > int64(concurrent) {
					t.Errorf("%d Mounts read %s %d times", concurrent, path, n)
				}
			}
		}
		if st.Logins != 1 || lookups != 1 {
			t.Errorf("%d concurrent cold Mounts: %d logins, %d mount lookups; want 1 and 1", concurrent, st.Logins, lookups)
		}
		if concurrent == 1 && reads != 10 {
			t.Errorf("one cold Mount of 12 objects naming 10 secrets made %d reads, want 10: %v", reads, st.ByPath)
		}
	}
}

// TestDropInRefusalsNameTheCause: errors of HashiCorp-style and azure
// classes say what is wrong and carry the fitting gRPC code.
func TestDropInRefusalsNameTheCause(t *testing.T) {
	setupCorpus(t)
	root, err := theWorld.Root()
	must(t, err)
	// A workload-identity role that also binds a resource group, as a
	// node-identity role would: Vault wants VM metadata the pod can't send.
	_, err = root.Logical().Write("auth/azure/role/rg-bound", map[string]any{
		"bound_service_principal_ids": world.AppIdentity.ObjectID, "bound_resource_groups": world.NodeResourceGroup,
		"bound_subscription_ids": world.SubscriptionID, "token_policies": "shop-web"})
	must(t, err)
	corpus := func(objects string, extra map[string]string) map[string]string {
		p := map[string]string{"roleName": "corpus", "objects": objects}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	tests := []struct {
		name    string
		pod     world.Pod
		params  map[string]string
		code    string
		want    []string
		notWant []string
	}{
		{"both auth mount parameters", world.HashiCorpPod,
			corpus("- objectName: a\n  secretPath: secret/data/hashicorp/db\n  secretKey: password\n",
				map[string]string{"vaultAuthMountPath": "kubernetes", "vaultKubernetesMountPath": "k8s-east"}),
			"InvalidArgument", []string{"vaultAuthMountPath", "vaultKubernetesMountPath", `"kubernetes"`, `"k8s-east"`}, nil},
		{"value that is not base64", world.HashiCorpPod,
			corpus("- objectName: a\n  secretPath: secret/data/hashicorp/db\n  secretKey: password\n  encoding: base64\n", nil),
			"InvalidArgument", []string{`secretKey "password"`, "base64", "encoding"}, []string{corpusPasswordV2}},
		{"policy refuses a /v1/ path", world.HashiCorpPod,
			corpus("- objectName: a\n  secretPath: /v1/secret/data/billing/api\n  secretKey: key\n", nil),
			"PermissionDenied", []string{"GET secret/data/billing/api", "HTTP 403"}, []string{"v1/secret"}},
		{"azureResource without Vault's trailing slash", world.WebPod,
			withDefaults(map[string]string{"azureResource": "https://management.azure.com"}),
			"PermissionDenied", []string{`resource "https://management.azure.com/" but the token's aud is "https://management.azure.com"`,
				"only by the trailing slash", `set azureResource to "https://management.azure.com/"`}, []string{"check that auth/azure/config"}},
		{"role bound to a resource group", world.WebPod, withDefaults(map[string]string{"roleName": "rg-bound"}),
			"PermissionDenied", []string{"bound_resource_groups", `azureVMMetadata: "true"`, "bound_service_principal_ids only"},
			[]string{"check that auth/azure/config"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := mount(t, prov, world.SPC("refused", tc.params), tc.pod, nil)
			if err == nil {
				t.Fatal("mount succeeded")
			}
			st, _ := status.FromError(err)
			if st.Code().String() != tc.code {
				t.Errorf("code %s, want %s: %s", st.Code(), tc.code, st.Message())
			}
			for _, w := range tc.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("message lacks %q:\n%s", w, st.Message())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(st.Message(), w) {
					t.Errorf("message contains %q:\n%s", w, st.Message())
				}
			}
		})
	}
}
