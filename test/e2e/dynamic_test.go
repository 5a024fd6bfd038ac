package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

var databaseOnce, dynamicOnce sync.Once

// ensureDatabase enables the database engine stand-in at database/.
func ensureDatabase(t *testing.T) {
	t.Helper()
	databaseOnce.Do(func() { must(t, theWorld.Vault.EnableSecrets("", "database", "database", nil)) })
}

// setupDynamic prepares short-lived dynamic secrets: database roles "short"
// (ttl 6 s, max 18 s) and "long" (1 h, 24 h), a pki role "short" (9 s
// certificates, no lease, as Vault's default), and azure roles for the web
// and billing identities whose policy may read them and revoke their own
// leases.
func setupDynamic(t *testing.T) {
	t.Helper()
	ensureDatabase(t)
	dynamicOnce.Do(func() {
		must(t, theWorld.Vault.PutPolicy("", "dynamic", `
path "database/creds/*" { capabilities = ["read"] }
path "sys/leases/revoke/database/creds/*" { capabilities = ["update"] }
path "pki/issue/short" { capabilities = ["create", "update"] }
`))
		root, err := theWorld.Root()
		must(t, err)
		for p, d := range map[string]map[string]any{
			"database/roles/short":   {"db_name": "pg", "default_ttl": "6s", "max_ttl": "18s"},
			"database/roles/long":    {"db_name": "pg", "default_ttl": "1h", "max_ttl": "24h"},
			"database/roles/renewed": {"db_name": "pg", "default_ttl": "6s", "max_ttl": "1h"},
			"pki/roles/short":        {"allowed_domains": "shop.example.com", "allow_subdomains": true, "ttl": "9s", "max_ttl": "1h"},
			"auth/azure/role/dyn":    {"bound_service_principal_ids": world.AppIdentity.ObjectID, "token_policies": "dynamic", "token_ttl": "1h"},
			"auth/azure/role/dyn-bl": {"bound_service_principal_ids": world.OtherIdentity.ObjectID, "token_policies": "dynamic", "token_ttl": "1h"},
		} {
			if _, err := root.Logical().Write(p, d); err != nil {
				t.Fatalf("writing %s: %v", p, err)
			}
		}
	})
}

// dynamicSPC reads objects (database or pki) as role.
func dynamicSPC(role, clientID, objects string) *driver.SecretProviderClass {
	return world.SPC("dynamic-"+role, map[string]string{"roleName": role, "clientID": clientID, "objects": objects})
}

const dbObjects = "- objectName: username\n  secretPath: database/creds/%s\n  secretKey: username\n" +
	"- objectName: password\n  secretPath: database/creds/%s\n  secretKey: password\n"

// podOf is one of the pods of a Deployment-like set of p: same service
// account, its own name and UID.
func podOf(p world.Pod, i int) world.Pod {
	p.Name = fmt.Sprintf("%s-%d", p.Name, i)
	p.UID = fmt.Sprintf("%s-%04d", p.UID[:len(p.UID)-5], i)
	return p
}

// usersSince returns the database users created at or after since.
func usersSince(t *testing.T, since time.Time) map[string]vaultfront.DatabaseUser {
	t.Helper()
	users, err := theWorld.Vault.DatabaseUsers("", "database")
	must(t, err)
	out := map[string]vaultfront.DatabaseUser{}
	for _, u := range users {
		if !u.Created.Before(since) {
			out[u.Username] = u
		}
	}
	return out
}

// TestDynamicLeaseRenewedThenReplaced: one pod polls every second for 30 s;
// its database lease (ttl 6 s, max 18 s) is renewed at two thirds and
// replaced only in its last third, so two users in 30 s instead of 30;
// every change of user is a new version and no other Mount changes it.
func TestDynamicLeaseRenewedThenReplaced(t *testing.T) {
	setupDynamic(t)
	p, err := theWorld.StartProvider("--secret-cache-ttl=0")
	must(t, err)
	defer p.Stop()
	spc := dynamicSPC("dyn", world.AppIdentity.ClientID, fmt.Sprintf(dbObjects, "short", "short"))
	pod := podOf(world.WebPod, 9001)
	start := time.Now()
	resetCounters()
	var users []string
	var lastVersion string
	for i := range 30 {
		v, versions, err := mount(t, p, spc, pod, nil)
		if err != nil {
			t.Fatalf("mount %d: %v", i, err)
		}
		user := readFile(t, v, "username")
		changed := len(users) == 0 || users[len(users)-1] != user
		if changed {
			users = append(users, user)
		}
		if (versions["username"] != lastVersion) != changed {
			t.Errorf("mount %d: user changed %v but version changed %v", i, changed, versions["username"] != lastVersion)
		}
		lastVersion = versions["username"]
		if u, ok := usersSince(t, start)[user]; !ok || !u.Revoked.IsZero() {
			t.Errorf("mount %d got user %s, which is not live in the database engine (%+v)", i, user, u)
		}
		time.Sleep(time.Second - time.Since(start)%time.Second)
	}
	issued := usersSince(t, start)
	st := theWorld.Vault.Stats()
	renewals := st.ByPath["sys/leases/renew"]
	t.Logf("30 Mounts over %s: %d users %v, %d issue requests, %d renewals", time.Since(start).Round(time.Second), len(users), users, st.ByPath["database/creds/short"], renewals)
	// Each lease is renewed at about 4 and 8 s; the renewal at about 12 s
	// comes back shortened by the 18 s max, which puts it in its last
	// third: a new lease. So leases at about 0, 12 and 24 s (2 if the
	// clock falls the other way), 2 or 3 renewals each.
	if len(users) < 2 || len(users) > 3 || len(issued) != len(users) || st.ByPath["database/creds/short"] != int64(len(users)) {
		t.Errorf("%d users seen, %d created, %d issue requests; want 2 or 3 of each", len(users), len(issued), st.ByPath["database/creds/short"])
	}
	if renewals < 4 || renewals > 9 {
		t.Errorf("%d renewals, want 2 or 3 per lease", renewals)
	}
}

// TestDynamicOneLeasePerPodRevokedWhenGone: 100 pods of one Deployment
// poll 5 times: 100 leases, not 500 (as without reuse). Then none mounts
// again (the driver's rotation off) and 50 are deleted: their 50 leases
// are revoked soon after the kubelet stops listing them, while the other
// 50 stay live — renewed in the background — for longer than their lease's
// TTL and the old 8 s idle period.
func TestDynamicOneLeasePerPodRevokedWhenGone(t *testing.T) {
	const idle = 8 * time.Second
	setupDynamic(t)
	spc := dynamicSPC("dyn", world.AppIdentity.ClientID, fmt.Sprintf(dbObjects, "renewed", "renewed"))
	all, even, odd := make([]int, 100), []int{}, []int{}
	for i := range all {
		all[i] = i
		if i%2 == 0 {
			even = append(even, i)
		} else {
			odd = append(odd, i)
		}
	}

	// Before: a new lease at every Mount.
	old, err := theWorld.StartProvider("--secret-cache-ttl=0", "--reuse-dynamic-secrets=false")
	must(t, err)
	start := time.Now()
	for range 5 {
		pollPods(t, old, spc, all, nil)
	}
	must(t, old.Stop())
	before := len(usersSince(t, start))
	t.Logf("without reuse, 100 pods × 5 polls created %d database users", before)
	if before != 500 {
		t.Errorf("without reuse: %d users, want 500", before)
	}

	p, err := theWorld.StartProvider("--secret-cache-ttl=0", "--dynamic-idle-revoke="+idle.String())
	must(t, err)
	defer p.Stop()
	start = time.Now()
	resetCounters()
	userOf := make([]string, 100)
	for range 5 {
		pollPods(t, p, spc, all, userOf)
	}
	st := theWorld.Vault.Stats()
	if created := usersSince(t, start); len(created) != 100 || st.ByPath["database/creds/renewed"] != 100 || st.Logins != 1 {
		t.Fatalf("100 pods × 5 polls: %d users created, %d issue requests; want 100 and 100, with 1 login",
			len(created), st.ByPath["database/creds/renewed"])
	}
	lastMount := time.Now()
	for _, i := range odd {
		theWorld.Kubelet.Delete(podOf(world.WebPod, i))
	}
	deleted := time.Now()
	// Bound: gone after PodGoneAfter and two lists, then a sweep and the
	// revocation itself.
	bound := world.PodGoneAfter + 4*world.PodListInterval + 3*time.Second
	for {
		revoked, live := liveAndRevoked(t, start, userOf)
		if revoked == 50 {
			t.Logf("the 50 deleted pods' leases were revoked %s after the deletion (bound %s)", time.Since(deleted).Round(100*time.Millisecond), bound)
			if live != 50 {
				t.Errorf("%d leases live, want the 50 of the running pods", live)
			}
			break
		}
		if time.Since(deleted) > bound {
			t.Fatalf("%s after the deletion: %d revoked, %d live; want 50 and 50", time.Since(deleted).Round(time.Second), revoked, live)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// No Mount since: the running pods' credentials outlive their 6 s
	// lease and the idle period, renewed without any Mount.
	for time.Since(lastMount) < 2*idle {
		time.Sleep(time.Second)
	}
	users := usersSince(t, start)
	for _, i := range even {
		if u := users[userOf[i]]; !u.Revoked.IsZero() || u.Renewals == 0 {
			t.Errorf("running pod %d, no Mount for %s: user %s revoked at %v after %d renewals; want live and renewed",
				i, time.Since(lastMount).Round(time.Second), userOf[i], u.Revoked, u.Renewals)
		}
	}
	if t.Failed() {
		t.Log(p.Logs())
	}
	t.Logf("the 50 running pods' users live %s after their last Mount (lease ttl 6 s, idle period %s), renewed in the background", time.Since(lastMount).Round(time.Second), idle)
}

// liveAndRevoked counts the users of userOf created since start that Vault
// revoked (or expired) and those still live.
func liveAndRevoked(t *testing.T, start time.Time, userOf []string) (revoked, live int) {
	t.Helper()
	users := usersSince(t, start)
	for _, name := range userOf {
		if u := users[name]; u.Revoked.IsZero() {
			live++
		} else {
			revoked++
		}
	}
	return revoked, live
}

// TestDynamicUnknownLivenessNotRevoked: without the kubelet's list (no
// socket, or the kubelet not answering), a pod that stops mounting keeps
// its credential to the lease's end: dropped after the idle period but
// never revoked; a deleted pod is revoked once the kubelet answers again.
func TestDynamicUnknownLivenessNotRevoked(t *testing.T) {
	setupDynamic(t)
	spc := dynamicSPC("dyn", world.AppIdentity.ClientID, fmt.Sprintf(dbObjects, "long", "long"))
	t.Run("no socket", func(t *testing.T) {
		p, err := theWorld.StartProvider("--secret-cache-ttl=0", "--dynamic-idle-revoke=2s", "--kubelet-pod-resources-socket=")
		must(t, err)
		defer p.Stop()
		start := time.Now()
		pod := podOf(world.WebPod, 9301)
		user := mountedUser(t, p, spc, pod)
		theWorld.Kubelet.Delete(pod)
		time.Sleep(6 * time.Second)
		if u := usersSince(t, start)[user]; !u.Revoked.IsZero() {
			t.Errorf("a pod of unknown liveness had its credential revoked %s after its Mount", u.Revoked.Sub(start).Round(time.Second))
		}
	})
	t.Run("kubelet down", func(t *testing.T) {
		p, err := theWorld.StartProvider("--secret-cache-ttl=0")
		must(t, err)
		defer p.Stop()
		start := time.Now()
		pod := podOf(world.WebPod, 9302)
		user := mountedUser(t, p, spc, pod)
		theWorld.Kubelet.SetDown(true)
		theWorld.Kubelet.Delete(pod)
		time.Sleep(world.PodGoneAfter + 3*time.Second)
		if u := usersSince(t, start)[user]; !u.Revoked.IsZero() {
			t.Error("revoked while the kubelet did not answer")
		}
		theWorld.Kubelet.SetDown(false)
		waitRevoked(t, start, user, "a deleted pod's credential was not revoked after the kubelet came back")
	})
}

// mountedUser mounts spc for pod and returns the database user it got.
func mountedUser(t *testing.T, p *world.Provider, spc *driver.SecretProviderClass, pod world.Pod) string {
	t.Helper()
	v, _, err := mount(t, p, spc, pod, nil)
	must(t, err)
	return readFile(t, v, "username")
}

// waitRevoked waits until the engine revoked user (created since start),
// within the world's bound for a gone pod.
func waitRevoked(t *testing.T, start time.Time, user, failure string) {
	t.Helper()
	deadline := time.Now().Add(world.PodGoneAfter + 10*time.Second)
	for usersSince(t, start)[user].Revoked.IsZero() {
		if time.Now().After(deadline) {
			t.Fatal(failure)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pollPods mounts spc for the pods of WebPod's Deployment numbered in
// pods, 16 at a time, as the driver's rotation does. If userOf is not nil
// it checks that each pod keeps its database user, and records it.
func pollPods(t *testing.T, p *world.Provider, spc *driver.SecretProviderClass, pods []int, userOf []string) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 16)
	for _, i := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v, _, err := mount(t, p, spc, podOf(world.WebPod, i), nil)
			if err != nil {
				t.Errorf("pod %d: %v", i, err)
				return
			}
			if userOf == nil {
				return
			}
			user := readFile(t, v, "username")
			mu.Lock()
			defer mu.Unlock()
			if userOf[i] != "" && userOf[i] != user {
				t.Errorf("pod %d: user changed from %s to %s", i, userOf[i], user)
			}
			userOf[i] = user
		}()
	}
	wg.Wait()
}

// TestDynamicCertificateKeptUntilTwoThirds: a pki/issue object (no lease,
// 9 s certificates) keeps its certificate across polls while more than a
// third of its validity is left, then gets a new one; certificate and key
// always pair.
func TestDynamicCertificateKeptUntilTwoThirds(t *testing.T) {
	setupDynamic(t)
	p, err := theWorld.StartProvider("--secret-cache-ttl=0")
	must(t, err)
	defer p.Stop()
	objects := "- objectName: tls.crt\n  secretPath: pki/issue/short\n  method: PUT\n  secretArgs: {common_name: dyn.shop.example.com}\n  secretKey: certificate\n" +
		"- objectName: tls.key\n  secretPath: pki/issue/short\n  method: PUT\n  secretArgs: {common_name: dyn.shop.example.com}\n  secretKey: private_key\n"
	spc := dynamicSPC("dyn", world.AppIdentity.ClientID, objects)
	pod := podOf(world.WebPod, 9002)
	resetCounters()
	var serials []string
	kept := map[string]int{}
	for i := range 16 {
		v, _, err := mount(t, p, spc, pod, nil)
		if err != nil {
			t.Fatalf("mount %d: %v", i, err)
		}
		crt, key := readFile(t, v, "tls.crt"), readFile(t, v, "tls.key")
		if _, err := tls.X509KeyPair([]byte(crt), []byte(key)); err != nil {
			t.Fatalf("mount %d: certificate and key are not a pair: %v", i, err)
		}
		block, _ := pem.Decode([]byte(crt))
		cert, err := x509.ParseCertificate(block.Bytes)
		must(t, err)
		if left := time.Until(cert.NotAfter); left < 2500*time.Millisecond {
			t.Errorf("mount %d got a certificate with %s left of its 9 s", i, left.Round(100*time.Millisecond))
		}
		s := cert.SerialNumber.String()
		if len(serials) == 0 || serials[len(serials)-1] != s {
			serials = append(serials, s)
		}
		kept[s]++
		time.Sleep(time.Second)
	}
	issues := theWorld.Vault.Stats().ByPath["pki/issue/short"]
	t.Logf("16 Mounts, one a second: %d certificates %v (Mounts each: %v), %d issue requests", len(serials), serials, kept, issues)
	if len(serials) < 2 || len(serials) > 4 || issues != int64(len(serials)) {
		t.Errorf("%d certificates, %d issue requests; want 2 to 4 of each (a new one every ~6 s)", len(serials), issues)
	}
	for _, s := range serials[:len(serials)-1] {
		if kept[s] < 5 {
			t.Errorf("certificate %s was handed out %d times, want at least 5 (kept until two thirds of 9 s)", s, kept[s])
		}
	}
}

// TestDynamicSecretsNeverShared: pods of two identities poll concurrently;
// each pod keeps its own database user, no two pods share one, and Vault
// issued each user to a token of the pod's own identity.
func TestDynamicSecretsNeverShared(t *testing.T) {
	setupDynamic(t)
	p, err := theWorld.StartProvider("--secret-cache-ttl=0")
	must(t, err)
	defer p.Stop()
	start := time.Now()
	type member struct {
		pod world.Pod
		spc *driver.SecretProviderClass
	}
	var members []member
	for i := range 3 {
		members = append(members,
			member{podOf(world.WebPod, 9100+i), dynamicSPC("dyn", world.AppIdentity.ClientID, fmt.Sprintf(dbObjects, "long", "long"))},
			member{podOf(world.BillingPod, 9100+i), dynamicSPC("dyn-bl", world.OtherIdentity.ClientID, fmt.Sprintf(dbObjects, "long", "long"))})
	}
	userOf := make([]string, len(members))
	for round := range 3 {
		var wg sync.WaitGroup
		for i, m := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, _, err := mount(t, p, m.spc, m.pod, nil)
				if err != nil {
					t.Errorf("%s round %d: %v", m.pod.Name, round, err)
					return
				}
				u := readFile(t, v, "username")
				if userOf[i] != "" && userOf[i] != u {
					t.Errorf("%s: user changed between polls", m.pod.Name)
				}
				userOf[i] = u
			}()
		}
		wg.Wait()
	}
	created := usersSince(t, start)
	seen := map[string]string{}
	for i, u := range userOf {
		if other, dup := seen[u]; dup {
			t.Errorf("%s and %s share user %s", other, members[i].pod.Name, u)
		}
		seen[u] = members[i].pod.Name
		cu, ok := created[u]
		if !ok {
			t.Fatalf("%s: user %s unknown to the engine", members[i].pod.Name, u)
		}
		// Vault's azure login names the token after the identity's oid.
		want := "azure-" + world.AppIdentity.ObjectID
		if members[i].pod.Namespace == world.BillingPod.Namespace {
			want = "azure-" + world.OtherIdentity.ObjectID
		}
		if cu.DisplayName != want {
			t.Errorf("%s got user %s issued to %q, want a token of its own identity %q", members[i].pod.Name, u, cu.DisplayName, want)
		}
	}
	if len(created) != len(members) {
		t.Errorf("%d users created for %d pods", len(created), len(members))
	}
}

// TestDynamicSurvivesProviderRestart: with --state-file, a provider
// restart (an upgrade) keeps a running pod's credential alive — renewed by
// the new process without any Mount — and a later Mount gets the same
// credential and version; the new process revokes it once the pod is gone.
// Without the file, the same restart lets the credential die at its TTL
// (6 s) under the running pod.
func TestDynamicSurvivesProviderRestart(t *testing.T) {
	setupDynamic(t)
	dir, err := theWorld.TempDir("dynamic-state")
	must(t, err)
	keyFile := filepath.Join(dir, "key")
	must(t, os.WriteFile(keyFile, []byte("Zr2LxT7bN4mW8cY1dF6gH0jK5sA2eR7tU9iO3pL6zX8vB1nM4qW7eR0tYuQ3kV9p\n"), 0o400))
	spc := dynamicSPC("dyn", world.AppIdentity.ClientID, fmt.Sprintf(dbObjects, "renewed", "renewed"))
	restart := func(t *testing.T, pod world.Pod, flags ...string) (user, version string, p *world.Provider) {
		t.Helper()
		flags = append([]string{"--secret-cache-ttl=0", "--version-key-file", keyFile}, flags...)
		first, err := theWorld.StartProvider(flags...)
		must(t, err)
		v, versions, err := mount(t, first, spc, pod, nil)
		must(t, err)
		user = readFile(t, v, "username")
		must(t, first.Stop())
		p, err = theWorld.StartProvider(flags...)
		must(t, err)
		t.Cleanup(func() { _ = p.Stop() })
		return user, versions["username"], p
	}
	t.Run("with --state-file", func(t *testing.T) {
		pod := podOf(world.WebPod, 9401)
		start := time.Now()
		user, version, p := restart(t, pod, "--state-file", filepath.Join(dir, "state"))
		time.Sleep(15 * time.Second) // no Mount: 2.5 × the lease's TTL
		if u := usersSince(t, start)[user]; !u.Revoked.IsZero() || u.Renewals < 2 {
			t.Fatalf("15 s after the restart the pod's user %s: revoked %v, %d renewals; want live, renewed by the new process\n%s", user, u.Revoked, u.Renewals, p.Logs())
		}
		v, versions, err := mount(t, p, spc, pod, nil)
		must(t, err)
		if got := readFile(t, v, "username"); got != user || versions["username"] != version {
			t.Errorf("after the restart the pod got user %s version %s, want its own %s version %s", got, versions["username"], user, version)
		}
		theWorld.Kubelet.Delete(pod)
		waitRevoked(t, start, user, "the new process did not revoke the gone pod's credential")
	})
	t.Run("without it", func(t *testing.T) {
		pod := podOf(world.WebPod, 9402)
		start := time.Now()
		user, _, _ := restart(t, pod)
		time.Sleep(9 * time.Second)
		if u := usersSince(t, start)[user]; u.Revoked.IsZero() {
			t.Error("the credential outlived its TTL without the state file: the test above proves nothing")
		}
	})
}
