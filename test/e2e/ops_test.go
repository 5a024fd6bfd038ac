package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

var servingHTTP = regexp.MustCompile(`"serving HTTP" addr="([^"]+)" paths="([^"]+)"`)

// opsAddr waits for the provider to log the address of its HTTP server.
func opsAddr(t *testing.T, p *world.Provider) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingHTTP.FindStringSubmatch(p.Logs()); m != nil {
			if m[2] != "/healthz,/readyz,/metrics" {
				t.Fatalf("one address serves %q, want /healthz,/readyz,/metrics", m[2])
			}
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the provider did not log its HTTP address:\n%s", p.Logs())
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape reads /metrics into series → value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds the values of every series of name whose labels include all of labels.
func sum(m map[string]float64, name string, labels ...string) float64 {
	var total float64
	for k, v := range m {
		if !strings.HasPrefix(k, name+"{") && k != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(k, labels[i]+`="`+labels[i+1]+`"`) {
				match = false
			}
		}
		if match {
			total += v
		}
	}
	return total
}

func TestHealthAndMetricsEndpoints(t *testing.T) {
	p, err := theWorld.StartProvider("--health-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			p.Stop()
		}
	}()
	base := "http://" + opsAddr(t, p)
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, base+path); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
			t.Errorf("%s while serving: HTTP %d %q, want 200 ok", path, code, body)
		}
	}
	before := scrape(t, base)
	spc := world.SPC("ops", withDefaults(nil))
	for i := 0; i < 2; i++ {
		if _, _, err := mount(t, p, spc, world.WebPod, nil); err != nil {
			t.Fatalf("mount %d: %v", i, err)
		}
	}
	bad := world.SPC("ops-denied", withDefaults(map[string]string{"roleName": "billing"}))
	if _, _, err := mount(t, p, bad, world.WebPod, nil); err == nil {
		t.Fatal("the mount with a role bound to another identity succeeded")
	}
	assertCountersMoved(t, before, scrape(t, base))
	stopped = true
	if err := p.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	c := &http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("/healthz still answers HTTP %d after SIGTERM", resp.StatusCode)
	}
}

// assertCountersMoved checks the metrics of two good mounts of one identity
// (one login, then a cached token) and one refused login.
func assertCountersMoved(t *testing.T, before, after map[string]float64) {
	t.Helper()
	const ns = "vault_azure_csi_provider_"
	checks := []struct {
		name    string
		labels  []string
		atLeast float64
	}{
		{ns + "mounts_total", []string{"result", "ok"}, 2},
		{ns + "mounts_total", []string{"result", "PermissionDenied"}, 1},
		{ns + "mount_duration_seconds_count", []string{"result", "ok"}, 2},
		{ns + "vault_requests_total", []string{"kind", "login", "status", "200"}, 1},
		{ns + "vault_requests_total", []string{"kind", "login", "status", "500"}, 1},
		{ns + "vault_requests_total", []string{"kind", "read", "status", "200"}, 1},
		{ns + "azure_token_requests_total", []string{"endpoint", "entra", "status", "200"}, 1},
		{ns + "cache_requests_total", []string{"cache", "vault_token", "result", "miss"}, 1},
		{ns + "cache_requests_total", []string{"cache", "vault_token", "result", "hit"}, 1},
	}
	for _, c := range checks {
		moved := sum(after, c.name, c.labels...) - sum(before, c.name, c.labels...)
		if moved < c.atLeast {
			t.Errorf("%s%v moved by %v, want at least %v", c.name, c.labels, moved, c.atLeast)
		}
	}
	if moved := sum(after, ns+"mounts_total", "result", "ok") - sum(before, ns+"mounts_total", "result", "ok"); moved != 2 {
		t.Errorf("mounts_total{result=ok} moved by %v, want exactly 2", moved)
	}
}
