package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// forbiddenObjects names a path the shop-web role's policy does not allow.
const forbiddenObjects = "- {objectName: billing-key, secretPath: secret/billing/api, secretKey: key}\n"

// TestForbiddenPathCostsOneLogin: 100 Mounts of a class that names a path
// its policy refuses — half of them at once, then one after another as
// rotation polls come — make one login and give 100 clear errors. A 403 on
// a token obtained within the Mount is the policy's answer, remembered with
// the token; no token piles up in Vault.
func TestForbiddenPathCostsOneLogin(t *testing.T) {
	p := startLogged(t, "text")
	spc := world.SPC("forbidden", withDefaults(map[string]string{"objects": forbiddenObjects}))
	theWorld.Vault.RevokeAllTokens()
	before := theWorld.Vault.Stats()
	errs := make([]error, 100)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = mountAs(t, p, spc, world.WebPod, 30*time.Second)
		}()
	}
	wg.Wait()
	for i := 50; i < 100; i++ {
		_, errs[i] = mountAs(t, p, spc, world.WebPod, 30*time.Second)
	}
	after := theWorld.Vault.Stats()
	for i, err := range errs {
		st, _ := status.FromError(err)
		if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), "secret/data/billing/api") || !strings.Contains(st.Message(), "HTTP 403") {
			t.Fatalf("mount %d: %v, want PermissionDenied naming secret/data/billing/api", i, err)
		}
	}
	logins := after.Logins - before.Logins
	t.Logf("100 mounts of a forbidden path: %d login(s), %d reads; the pod's event: %s", logins, after.Reads-before.Reads, status.Convert(errs[99]).Message())
	if logins != 1 {
		t.Errorf("%d logins for 100 mounts of a forbidden path, want 1", logins)
	}
	if n := theWorld.Vault.LiveTokens("azure"); n != 1 {
		t.Errorf("%d live azure tokens in Vault, want 1", n)
	}
}

// TestRefusedCachedTokenIsReplacedOnceAndRevoked: a 403 on a cached token
// at a path never refused before may mean the token is dead: the provider
// drops it (only that token), revokes it, logs in once and reads again;
// if the new token is refused too, that is the answer, and later Mounts of
// the class do not log in again.
func TestRefusedCachedTokenIsReplacedOnceAndRevoked(t *testing.T) {
	p := startLogged(t, "text")
	theWorld.Vault.RevokeAllTokens()
	var cached []string
	cached = tokensDuring(func() { mountDB(t, p, nil) })
	if len(cached) != 1 {
		t.Fatalf("warm mount made %d logins, want 1", len(cached))
	}
	// The cached token is alive; a class with a forbidden path meets it.
	spc := world.SPC("forbidden-later", withDefaults(map[string]string{"objects": forbiddenObjects}))
	fresh := tokensDuring(func() {
		v, err := mountAs(t, p, spc, world.WebPod, 30*time.Second)
		expectFailure(t, v, err, codes.PermissionDenied, "secret/data/billing/api")
	})
	if len(fresh) != 1 {
		t.Fatalf("the refused mount made %d logins, want exactly 1 retry", len(fresh))
	}
	deadline := time.Now().Add(5 * time.Second)
	for theWorld.Vault.TokenValid(cached[0]) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if theWorld.Vault.TokenValid(cached[0]) {
		t.Error("the discarded token is still valid in Vault: it was not revoked")
	}
	again := tokensDuring(func() {
		for range 5 {
			v, err := mountAs(t, p, spc, world.WebPod, 30*time.Second)
			expectFailure(t, v, err, codes.PermissionDenied, "secret/data/billing/api")
		}
		mountDB(t, p, nil)
	})
	if len(again) != 0 {
		t.Errorf("%d more logins after the refusal was learnt, want 0", len(again))
	}
}
