package e2e

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// Paths of the isolation test: each pod reads its own secret and tries the
// other's, which must stay 403 for it (even while the provider holds the
// other's answer in its secret cache).
const (
	webOwn     = "secret/data/shop/api"
	billingOwn = "secret/data/billing/api"
)

// isolationMount is one kind of mount of the isolation test.
type isolationMount struct {
	name   string
	pod    world.Pod
	params map[string]string
	want   string // the file's content; "" means PermissionDenied
}

func isolationMounts() []isolationMount {
	web := func(path string) map[string]string {
		return withDefaults(map[string]string{"objects": "- {objectName: key, secretPath: " + path + ", secretKey: key}\n"})
	}
	billing := func(path string) map[string]string {
		return map[string]string{"roleName": "billing", "clientID": world.OtherIdentity.ClientID,
			"objects": "- {objectName: key, secretPath: " + path + ", secretKey: key}\n"}
	}
	return []isolationMount{
		{"web reads its own", world.WebPod, web("secret/shop/api"), world.APIKey},
		{"billing reads its own", world.BillingPod, billing("secret/billing/api"), world.BillingAPIKey},
		{"web tries billing's", world.WebPod, web("secret/billing/api"), ""},
		{"billing tries web's", world.BillingPod, billing("secret/shop/api"), ""},
	}
}

// TestIsolationBetweenIdentities mounts for two pods with different Azure
// identities on one provider (secret cache on), many times, interleaved and
// concurrently. Each must only ever see its own secret and the other's path
// must stay 403 for it: had a pod been handed the other's Vault token (or
// its cached answer), its attempt on the other's path would succeed.
func TestIsolationBetweenIdentities(t *testing.T) {
	for _, format := range logFormats {
		t.Run(format, func(t *testing.T) {
			p := startLogged(t, format, "--secret-cache-ttl=1m")
			violations := observeIsolation(t)
			runIsolationRounds(t, p, 30)
			for _, v := range violations() {
				t.Error(v)
			}
		})
	}
}

// runIsolationRounds runs rounds of every kind of isolation mount, shuffled,
// eight at a time.
func runIsolationRounds(t *testing.T, p *world.Provider, rounds int) {
	var jobs []isolationMount
	for range rounds {
		jobs = append(jobs, isolationMounts()...)
	}
	rand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	work := make(chan isolationMount)
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				if err := checkIsolationMount(t, p, m); err != nil {
					t.Error(err)
				}
				mu.Lock()
				counts[m.name]++
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	t.Logf("isolation mounts: %v", counts)
}

func checkIsolationMount(t *testing.T, p *world.Provider, m isolationMount) error {
	v, err := mountAs(t, p, world.SPC("isolation", m.params), m.pod, 60*time.Second)
	if m.want == "" {
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "403") {
			return fmt.Errorf("%s: got %v, want PermissionDenied (HTTP 403)", m.name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %v", m.name, err)
	}
	if got := readFile(t, v, "key"); got != m.want {
		return fmt.Errorf("%s: got another secret (%d bytes)", m.name, len(got))
	}
	return nil
}

// observeIsolation watches Vault until the test ends and returns a function
// that lists what went wrong: each pod's attempts on the other's path must
// reach Vault with the pod's own, valid token and be refused there (not
// short-circuited, not sent with no or a stale token).
func observeIsolation(t *testing.T) func() []string {
	var mu sync.Mutex
	var bad []string
	refused := map[string]int{}
	intruder := map[string]string{webOwn: "billing", billingOwn: "shop-web"}
	theWorld.Vault.SetObserver(func(r vaultfront.Request) {
		policy, ok := intruder[r.Path]
		if !ok || r.Status != 403 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if slices.Contains(r.Policies, policy) {
			refused[r.Path]++
		} else {
			bad = append(bad, fmt.Sprintf("%s %s was refused to a token of policies %v, want the other pod's (%s)", r.Method, r.Path, r.Policies, policy))
		}
	})
	t.Cleanup(func() { theWorld.Vault.SetObserver(nil) })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		for p, policy := range intruder {
			if refused[p] == 0 {
				bad = append(bad, fmt.Sprintf("Vault refused no %s token on %s: the test proves nothing", policy, p))
			}
		}
		return slices.Clone(bad)
	}
}
