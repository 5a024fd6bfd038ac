package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

const (
	instanceMetadataPath = "/metadata/instance?api-version=2021-02-01"
	vmMetadataTTL        = 10 * time.Minute
)

// vmMetadata is the part of IMDS instance metadata that Vault's azure login
// checks against ARM for roles bound to subscriptions, groups or scale sets.
type vmMetadata struct {
	SubscriptionID    string `json:"subscriptionId"`
	ResourceGroupName string `json:"resourceGroupName"`
	Name              string `json:"name"`
	VMScaleSetName    string `json:"vmScaleSetName"`
	ResourceID        string `json:"resourceId"`
}

// vmMetadataCache reads instance metadata once per vmMetadataTTL: the node
// does not move.
type vmMetadataCache struct {
	method  *Method
	mu      sync.Mutex
	value   *vmMetadata
	fetched time.Time
}

func (c *vmMetadataCache) addTo(ctx context.Context, data map[string]any) error {
	md, err := c.get(ctx)
	if err != nil {
		return err
	}
	data["subscription_id"] = md.SubscriptionID
	data["resource_group_name"] = md.ResourceGroupName
	if md.VMScaleSetName != "" {
		data["vmss_name"] = md.VMScaleSetName
	} else {
		data["vm_name"] = md.Name
	}
	if md.ResourceID != "" {
		data["resource_id"] = md.ResourceID
	}
	return nil
}

func (c *vmMetadataCache) get(ctx context.Context) (*vmMetadata, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.value != nil && time.Since(c.fetched) < vmMetadataTTL {
		return c.value, nil
	}
	md, err := c.method.fetchVMMetadata(ctx)
	if err != nil {
		return nil, err
	}
	c.value, c.fetched = md, time.Now()
	return md, nil
}

func (m *Method) fetchVMMetadata(ctx context.Context) (*vmMetadata, error) {
	u := strings.TrimRight(m.cfg.IMDSEndpoint, "/") + instanceMetadataPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, configError(fmt.Sprintf("building the IMDS instance request: %v", err))
	}
	req.Header.Set("Metadata", "true")
	resp, err := m.httpClient.Do(req)
	if err != nil {
		return nil, &auth.Error{Kind: auth.KindUnavailable, Err: fmt.Errorf("reading VM metadata from IMDS (azureVMMetadata): %w", err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, &auth.Error{Kind: auth.KindUnavailable, Err: fmt.Errorf("reading VM metadata from IMDS: HTTP %d: %s", resp.StatusCode, truncate(strings.TrimSpace(string(body)), 300))}
	}
	var doc struct {
		Compute vmMetadata `json:"compute"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Compute.SubscriptionID == "" {
		return nil, credentialError(fmt.Errorf("IMDS instance metadata has no compute.subscriptionId"))
	}
	return &doc.Compute, nil
}
