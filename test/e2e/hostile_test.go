package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// The hostile-neighbour suite: one provider serves a victim namespace that
// mounts continuously (a KV secret and a kept database credential) while
// classes of other namespaces — or other classes of the victim's own
// identity — attack the node's provider. Each attack must leave the victim
// with no error and none of its leases or tokens revoked, keep the
// provider within its memory bound, and give the attacker a clear error.

// hostileRSSBoundMiB is the provider's memory bound under every attack
// (the chart's limit is 256 MiB).
const hostileRSSBoundMiB = 128

// victim mounts the victim's classes in a loop until stopped.
type victim struct {
	t    *testing.T
	p    *world.Provider
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	times []time.Duration
	errs  []error
	users map[string]bool // database users the victim was handed
}

// victimPod is the victim's pod: its database credential is kept for it.
var victimPod = podOf(world.WebPod, 7001)

func startVictim(t *testing.T, p *world.Provider) *victim {
	t.Helper()
	kv := world.SPC("victim-kv", withDefaults(nil))
	db := dynamicSPC("dyn", world.AppIdentity.ClientID, fmt.Sprintf(dbObjects, "long", "long"))
	v := &victim{t: t, p: p, stop: make(chan struct{}), done: make(chan struct{}), users: map[string]bool{}}
	go func() {
		defer close(v.done)
		for i := 0; ; i++ {
			select {
			case <-v.stop:
				return
			default:
			}
			spc := kv
			if i%2 == 1 {
				spc = db
			}
			start := time.Now()
			vol, err := theWorld.Volume(spc, victimPod)
			if err == nil {
				_, err = mountWithDeadline(p, vol, 20*time.Second)
			}
			d := time.Since(start)
			v.mu.Lock()
			v.times = append(v.times, d)
			if err != nil {
				v.errs = append(v.errs, fmt.Errorf("victim mount %d (%s): %w", i, spc.Metadata.Name, err))
			} else if spc == db {
				b, _ := os.ReadFile(filepath.Join(vol.TargetPath, "username"))
				v.users[string(b)] = true
			}
			v.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return v
}

// finish stops the victim and checks it: no error, one database user,
// never revoked. It returns its Mounts' p50 and p99.
func (v *victim) finish(since time.Time) (p50, p99 time.Duration, n int) {
	v.t.Helper()
	close(v.stop)
	<-v.done
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, err := range v.errs {
		if i < 5 {
			v.t.Errorf("%v", err)
		}
	}
	if len(v.errs) > 0 {
		v.t.Errorf("the victim had %d errors in %d Mounts", len(v.errs), len(v.times))
	}
	if len(v.users) > 1 || (len(v.users) == 0 && len(v.times) > 2) {
		v.t.Errorf("the victim was handed %d database users, want its one kept credential", len(v.users))
	}
	for u := range v.users {
		if db := usersSince(v.t, since)[u]; !db.Revoked.IsZero() {
			v.t.Errorf("the victim's database user %s was revoked at %v", u, db.Revoked)
		}
	}
	ts := slices.Clone(v.times)
	slices.Sort(ts)
	if len(ts) == 0 {
		v.t.Fatal("the victim mounted nothing")
	}
	return ts[len(ts)/2], ts[len(ts)*99/100], len(ts)
}

// mountWithDeadline mounts vol as the driver does, within timeout.
func mountWithDeadline(p *world.Provider, vol *driver.Volume, timeout time.Duration) (map[string]string, error) {
	c, err := driver.Dial(p.Socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Mount(ctx, vol, nil)
}

// attackerPod is pod i of a namespace whose classes attack.
func attackerPod(ns string, i int) world.Pod {
	return world.Pod{Namespace: ns, Name: fmt.Sprintf("evil-%d", i), UID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), ServiceAccount: "evil"}
}

// attack mounts n classes made by params(i) as pods pod(i), all at once,
// each within timeout, and returns their gRPC codes, the longest any took
// and a few of their messages.
func attack(t *testing.T, p *world.Provider, pod func(i int) world.Pod, n int, timeout time.Duration, params func(i int) map[string]string) (map[codes.Code]int, time.Duration, []string) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[codes.Code]int{}
	var longest time.Duration
	var messages []string
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vol, err := theWorld.Volume(world.SPC(fmt.Sprintf("evil-%d", i), params(i)), pod(i))
			if err != nil {
				t.Error(err)
				return
			}
			start := time.Now()
			_, err = mountWithDeadline(p, vol, timeout)
			d := time.Since(start)
			st := status.Convert(err)
			mu.Lock()
			defer mu.Unlock()
			got[st.Code()]++
			longest = max(longest, d)
			if err != nil && len(messages) < 3 {
				messages = append(messages, st.Message())
			}
		}()
	}
	wg.Wait()
	return got, longest, messages
}

// kubernetesClass is a class of kubernetes auth at addr, one role per i
// (so every Mount is its own login), reading one object.
func kubernetesClass(addr string, i int) map[string]string {
	return map[string]string{"vaultAuthMethod": "kubernetes", "roleName": fmt.Sprint("evil-", i), "vaultAddress": addr,
		"objects": fmt.Sprintf("- {objectName: x, secretPath: kv/evil-%d, secretKey: k}\n", i)}
}

// hostileVault serves a world.HostileVault until the test ends.
func hostileVault(t *testing.T, login bool, serve world.HostileHandler) string {
	t.Helper()
	url, closeFn := world.HostileVault(login, serve)
	t.Cleanup(closeFn)
	return url
}

// TestHostileNeighbours runs each attack while the victim mounts.
func TestHostileNeighbours(t *testing.T) {
	setupDynamic(t)
	p := startProvider(t, "--dynamic-max-secrets-per-namespace=20", "--dynamic-max-secrets=200")
	dir, err := theWorld.TempDir("hostile")
	must(t, err)
	fifo := filepath.Join(dir, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o600))
	huge := filepath.Join(dir, "huge.pem")
	f, err := os.Create(huge)
	must(t, err)
	must(t, f.Truncate(4<<30)) // 4 GiB, sparse
	f.Close()

	// Quiet: the victim alone, for comparison.
	since := time.Now()
	v := startVictim(t, p)
	time.Sleep(3 * time.Second)
	quiet50, quiet99, quietN := v.finish(since)
	t.Logf("victim alone: %d Mounts, p50 %s, p99 %s", quietN, quiet50.Round(100*time.Microsecond), quiet99.Round(100*time.Microsecond))

	attacks := []struct {
		name    string
		n       int
		timeout time.Duration
		params  func(i int) map[string]string
		want    codes.Code
		within  time.Duration // the attacker's clear error comes this fast
		message string
	}{
		{"a CA path of /dev/zero, a FIFO or a 4 GiB file", 30, 10 * time.Second, func(i int) map[string]string {
			return withDefaults(map[string]string{"vaultCACertPath": []string{"/dev/zero", fifo, huge}[i%3], "vaultAddress": "https://127.0.0.1:1"})
		}, codes.InvalidArgument, 2 * time.Second, "is not a readable PEM file"},
		{"a Vault that answers logins with an endless body", 40, 10 * time.Second, func(i int) map[string]string {
			return kubernetesClass(hostileVault(t, false, world.EndlessBody), i)
		}, codes.ResourceExhausted, 8 * time.Second, "larger than the"},
		{"a Vault that answers reads with an endless body", 40, 10 * time.Second, func(i int) map[string]string {
			return kubernetesClass(hostileVault(t, true, world.EndlessBody), i)
		}, codes.ResourceExhausted, 8 * time.Second, ""},
		{"a Vault that never answers, 64 Mounts", 64, 5 * time.Second, func(i int) map[string]string {
			return kubernetesClass(hostileVault(t, false, world.Hang), i)
		}, codes.DeadlineExceeded, 7 * time.Second, ""},
		{"a namespace filling the dynamic-secret store", 6, 30 * time.Second, func(i int) map[string]string {
			var objs strings.Builder
			for j := range 10 {
				fmt.Fprintf(&objs, "- {objectName: c%d, secretPath: pki/issue/short, method: PUT, secretArgs: {common_name: e%d-%d.shop.example.com}, secretKey: certificate}\n", j, i, j)
			}
			return map[string]string{"roleName": "dyn-bl", "clientID": world.OtherIdentity.ClientID, "objects": objs.String()}
		}, codes.ResourceExhausted, 30 * time.Second, "--dynamic-max-secrets-per-namespace"},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			since := time.Now()
			v := startVictim(t, p)
			time.Sleep(500 * time.Millisecond)
			pod := func(i int) world.Pod { return attackerPod("attacker", i) }
			if a.want == codes.ResourceExhausted {
				pod = func(i int) world.Pod { return podOf(world.BillingPod, 8000+i) } // a real identity of the world's Vault
			}
			got, longest, msgs := attack(t, p, pod, a.n, a.timeout, a.params)
			time.Sleep(500 * time.Millisecond)
			p50, p99, n := v.finish(since)
			_, peak := procMemory(t, p.PID())
			t.Logf("%s: attacker codes %v (slowest %s), e.g. %q; victim %d Mounts p50 %s p99 %s; provider peak RSS %.1f MiB",
				a.name, got, longest.Round(time.Millisecond), msgs, n, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), mib(peak))
			if got[a.want] == 0 {
				t.Errorf("no attacker Mount got %s: %v", a.want, got)
			}
			if longest > a.within {
				t.Errorf("an attacker waited %s for its error, want at most %s", longest, a.within)
			}
			if a.message != "" && !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, a.message) }) {
				t.Errorf("the attacker's errors %q do not say %q", msgs, a.message)
			}
			if p99 > 2*time.Second {
				t.Errorf("the victim's p99 was %s during the attack", p99)
			}
			if mib(peak) > hostileRSSBoundMiB {
				t.Errorf("the provider's peak RSS reached %.1f MiB, over its %d MiB bound", mib(peak), hostileRSSBoundMiB)
			}
		})
	}

	// The victim's own identity: another class of it is refused a path
	// while Vault fails every token lookup: no token and no lease of the
	// victim is revoked, and the victim keeps mounting.
	t.Run("a class of the same identity refused while token lookups fail", func(t *testing.T) {
		since := time.Now()
		v := startVictim(t, p)
		time.Sleep(300 * time.Millisecond)
		theWorld.Vault.InjectFault(vaultfront.Fault{PathPrefix: "auth/token/lookup", Status: http.StatusInternalServerError})
		defer theWorld.Vault.ClearFaults()
		for range 20 {
			vol, err := theWorld.Volume(world.SPC("forbidden", withDefaults(map[string]string{"objects": forbiddenObjects})), victimPod)
			must(t, err)
			_, err = mountWithDeadline(p, vol, 20*time.Second)
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("the forbidden class: %v, want PermissionDenied", err)
			}
		}
		v.finish(since)
		if n := theWorld.Vault.Stats().ByPath["auth/token/revoke-self"]; n != 0 {
			t.Errorf("%d token revocations", n)
		}
	})

	// The victim's role gains a policy: a class adding an object that
	// only the new policy allows mounts at once, on the cached token's
	// refusal (one fresh login), not after the token's lifetime.
	t.Run("the victim's role gains a policy", func(t *testing.T) {
		v := startVictim(t, p)
		time.Sleep(300 * time.Millisecond)
		root, err := theWorld.Root()
		must(t, err)
		_, err = root.Logical().Write("secret/data/shop-extra/x", map[string]any{"data": map[string]any{"k": "extra"}})
		must(t, err)
		must(t, theWorld.Vault.PutPolicy("", "shop-extra", `path "secret/data/shop-extra/*" { capabilities = ["read"] }`))
		role, err := root.Logical().Read("auth/azure/role/shop-web")
		must(t, err)
		policies := append(slices.Clone(anyStrings(role.Data["token_policies"])), "shop-extra")
		_, err = root.Logical().Write("auth/azure/role/shop-web", map[string]any{"token_policies": strings.Join(policies, ",")})
		must(t, err)
		defer func() {
			_, _ = root.Logical().Write("auth/azure/role/shop-web", map[string]any{"token_policies": strings.Join(anyStrings(role.Data["token_policies"]), ",")})
		}()
		objects := "- {objectName: db-password, secretPath: secret/shop/db, secretKey: password}\n- {objectName: extra, secretPath: secret/shop-extra/x, secretKey: k}\n"
		vol, err := theWorld.Volume(world.SPC("extra", withDefaults(map[string]string{"objects": objects})), victimPod)
		must(t, err)
		if _, err := mountWithDeadline(p, vol, 20*time.Second); err != nil {
			t.Errorf("a class using the role's new policy: %v, want it mounted at once", err)
		}
		v.finish(time.Now().Add(-time.Hour))
	})
}

// anyStrings reads a list of strings from Vault's JSON.
func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
