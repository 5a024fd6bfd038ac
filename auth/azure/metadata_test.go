package azure

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// fakeIMDS answers /metadata/instance like Azure IMDS: it refuses requests
// without "Metadata: true".
func fakeIMDS(compute map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metadata/instance" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Metadata") != "true" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"Bad request. Required metadata header not specified"}`))
			return
		}
		if r.URL.Query().Get("api-version") == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"Bad request. api-version was not specified in the request"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"compute": compute, "network": map[string]any{}})
	}
}

func TestVMMetadata(t *testing.T) {
	const sub = "00000000-1111-2222-3333-444444444444"
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		want       map[string]any
		wantKind   auth.Kind
		wantErrHas []string
	}{
		{
			name: "plain VM",
			handler: fakeIMDS(map[string]any{
				"subscriptionId": sub, "resourceGroupName": "rg-nodes", "name": "node-vm-1", "vmScaleSetName": "",
				"resourceId": "/subscriptions/" + sub + "/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachines/node-vm-1",
				"location":   "westeurope",
			}),
			want: map[string]any{
				"subscription_id": sub, "resource_group_name": "rg-nodes", "vm_name": "node-vm-1",
				"resource_id": "/subscriptions/" + sub + "/resourceGroups/rg-nodes/providers/Microsoft.Compute/virtualMachines/node-vm-1",
			},
		},
		{
			name: "scale set instance (AKS node)",
			handler: fakeIMDS(map[string]any{
				"subscriptionId": sub, "resourceGroupName": "MC_rg_aks_westeurope", "name": "aks-pool-12345678-vmss_3",
				"vmScaleSetName": "aks-pool-12345678-vmss",
			}),
			want: map[string]any{
				"subscription_id": sub, "resource_group_name": "MC_rg_aks_westeurope", "vmss_name": "aks-pool-12345678-vmss",
			},
		},
		{
			name:       "IMDS error",
			handler:    func(w http.ResponseWriter, r *http.Request) { http.Error(w, "IMDS is updating", http.StatusGone) },
			wantKind:   auth.KindUnavailable,
			wantErrHas: []string{"HTTP 410", "IMDS is updating"},
		},
		{
			name:       "no subscription",
			handler:    fakeIMDS(map[string]any{"name": "vm"}),
			wantKind:   auth.KindCredential,
			wantErrHas: []string{"compute.subscriptionId"},
		},
		{
			name:       "not JSON",
			handler:    func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) },
			wantKind:   auth.KindCredential,
			wantErrHas: []string{"compute.subscriptionId"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			imds := newRecorder(t, tc.handler)
			cfg, _ := unusedEndpoints(t)
			cfg.IMDSEndpoint = imds.srv.URL + "/" // a trailing slash is tolerated
			m := mustNew(t, cfg)
			data := map[string]any{"role": "r", "jwt": "j"}
			err := m.vm.addTo(context.Background(), data)

			if r := imds.last(); r == nil || r.URL.Path != "/metadata/instance" || r.URL.Query().Get("api-version") != "2021-02-01" || r.Header.Get("Metadata") != "true" {
				t.Errorf("IMDS request = %v, want GET /metadata/instance?api-version=2021-02-01 with Metadata: true", r)
			}
			if tc.wantErrHas != nil {
				var ae *auth.Error
				if !errors.As(err, &ae) || ae.Kind != tc.wantKind {
					t.Fatalf("got %v, want auth.Error kind %d", err, tc.wantKind)
				}
				for _, w := range tc.wantErrHas {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q: %v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(data) != len(tc.want)+2 {
				t.Errorf("login data = %v, want role, jwt and %v", data, tc.want)
			}
			for k, v := range tc.want {
				if data[k] != v {
					t.Errorf("%s = %v, want %v", k, data[k], v)
				}
			}
		})
	}
}

func TestVMMetadataCached(t *testing.T) {
	imds := newRecorder(t, fakeIMDS(map[string]any{"subscriptionId": "s", "resourceGroupName": "g", "name": "vm"}))
	cfg, _ := unusedEndpoints(t)
	cfg.IMDSEndpoint = imds.srv.URL
	m := mustNew(t, cfg)
	for i := range 3 {
		data := map[string]any{}
		if err := m.vm.addTo(context.Background(), data); err != nil {
			t.Fatal(err)
		}
		if data["vm_name"] != "vm" {
			t.Fatalf("login %d: data = %v", i, data)
		}
	}
	if n := imds.count.Load(); n != 1 {
		t.Errorf("IMDS instance requests = %d for 3 logins, want 1 (cached)", n)
	}
	// After the cache lifetime, the metadata is read again.
	m.vm.mu.Lock()
	m.vm.fetched = time.Now().Add(-vmMetadataTTL - time.Second)
	m.vm.mu.Unlock()
	if err := m.vm.addTo(context.Background(), map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if n := imds.count.Load(); n != 2 {
		t.Errorf("IMDS instance requests = %d after expiry, want 2", n)
	}
}

func TestVMMetadataErrorNotCached(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	ok := fakeIMDS(map[string]any{"subscriptionId": "s", "resourceGroupName": "g", "name": "vm"})
	imds := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "busy", http.StatusTooManyRequests)
			return
		}
		ok(w, r)
	})
	cfg, _ := unusedEndpoints(t)
	cfg.IMDSEndpoint = imds.srv.URL
	m := mustNew(t, cfg)
	if err := m.vm.addTo(context.Background(), map[string]any{}); err == nil {
		t.Fatal("want an error from a 429")
	}
	fail.Store(false)
	data := map[string]any{}
	if err := m.vm.addTo(context.Background(), data); err != nil || data["subscription_id"] != "s" {
		t.Fatalf("after a failure the next login must fetch again: %v %v", data, err)
	}
	if n := imds.count.Load(); n != 2 {
		t.Errorf("IMDS requests = %d, want 2", n)
	}
}
