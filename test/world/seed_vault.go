package world

import (
	"encoding/base64"
	"fmt"
)

type write struct {
	path string
	data map[string]any
}

func (w *World) writeAll(writes []write) error {
	c, err := w.Root()
	if err != nil {
		return err
	}
	for _, wr := range writes {
		if _, err := c.Logical().Write(wr.path, wr.data); err != nil {
			return fmt.Errorf("writing %s: %w", wr.path, err)
		}
	}
	return nil
}

func (w *World) seedSecrets() error {
	return w.writeAll([]write{
		{"secret/data/shop/db", map[string]any{"data": map[string]any{
			"username": DBUsername, "password": DBPassword,
			"config": map[string]any{"tls": map[string]any{"mode": "verify-full"}},
		}}},
		{"secret/data/shop/api", map[string]any{"data": map[string]any{"key": APIKey, "key_b64": b64(APIKey)}}},
		{"secret/data/billing/api", map[string]any{"data": map[string]any{"key": BillingAPIKey}}},
		{"secret/data/db-pass", map[string]any{"data": map[string]any{"password": HashiCorpDBPwd}}},
		{"kv/shop/legacy", map[string]any{"token": LegacyToken}},
		{"pki/roles/web", map[string]any{"allowed_domains": "shop.example.com", "allow_subdomains": true, "max_ttl": "1h"}},
	})
}

func (w *World) seedAzureAuth() error {
	nodeBinding := map[string]any{
		"bound_service_principal_ids": NodeIdentity.ObjectID,
		"bound_subscription_ids":      SubscriptionID,
		"bound_resource_groups":       NodeResourceGroup,
		"bound_scale_sets":            NodeVMSS,
		"token_policies":              "shop-web",
		"token_ttl":                   "1h",
	}
	return w.writeAll([]write{
		{"auth/azure/config", map[string]any{
			"tenant_id": TenantID, "resource": AzureResource,
			"client_id": VaultSP.ClientID, "client_secret": VaultSPSecret,
		}},
		// Workload identity: bind the managed identity's object id only.
		{"auth/azure/role/shop-web", map[string]any{
			"bound_service_principal_ids": AppIdentity.ObjectID, "token_policies": "shop-web", "token_ttl": "1h", "token_max_ttl": "4h",
		}},
		{"auth/azure/role/billing", map[string]any{
			"bound_service_principal_ids": OtherIdentity.ObjectID, "token_policies": "billing", "token_ttl": "1h",
		}},
		{"auth/azure/role/node-agent", nodeBinding},
		{"auth/" + AppAudienceMount + "/config", map[string]any{
			"tenant_id": TenantID, "resource": AppAudience,
			"client_id": VaultSP.ClientID, "client_secret": VaultSPSecret,
		}},
		{"auth/" + AppAudienceMount + "/role/node-agent", nodeBinding},
		{"auth/" + AppAudienceMount + "/role/node-sp", map[string]any{
			"bound_service_principal_ids": NodeIdentity.ObjectID, "token_policies": "shop-web", "token_ttl": "1h",
		}},
		{"auth/azure/role/legacy", map[string]any{
			"bound_service_principal_ids": PodIdentity.ObjectID, "token_policies": "shop-web", "token_ttl": "1h",
		}},
	})
}

func (w *World) seedJWTAuth() error {
	cfg := map[string]any{
		"jwt_validation_pubkeys": []string{w.Cluster.PublicKeyPEM()},
		"bound_issuer":           ClusterIssuerURL,
	}
	jwtRole := func(pod Pod, policy string) map[string]any {
		return map[string]any{
			"role_type": "jwt", "bound_audiences": "vault", "user_claim": "sub",
			"bound_subject": pod.Subject(), "token_policies": policy, "token_ttl": "1h",
		}
	}
	writes := []write{
		{"auth/jwt/config", cfg},
		{"auth/jwt/role/shop-web", jwtRole(WebPod, "shop-web")},
	}
	if !w.opts.RealKubernetesAuth {
		// The stand-in is configured like jwt; the real plugin needs the
		// cluster's address, CA and a reviewer token, which its caller has.
		writes = append(writes,
			write{"auth/kubernetes/config", cfg},
			write{"auth/kubernetes/role/database", jwtRole(HashiCorpPod, "database")},
			write{"auth/kubernetes/role/shop-web", jwtRole(WebPod, "shop-web")})
	}
	return w.writeAll(writes)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
