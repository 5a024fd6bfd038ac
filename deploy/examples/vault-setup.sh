#!/usr/bin/env sh
# The Vault side of the examples in this directory: secrets engines, policies,
# and the azure, kubernetes and jwt auth methods with their roles.
#
# Run it with VAULT_ADDR and VAULT_TOKEN of an operator allowed to configure
# Vault. The defaults are the made-up IDs the examples (and the hermetic test
# world) use: set the variables to your own values, found with the commands
# shown next to each.
set -eu

# az account show --query tenantId -o tsv
TENANT_ID=${TENANT_ID:-7f3b1c52-3f0e-4b7a-9a51-6c1f2d9e8a40}
# Object (principal) id of the workload's user-assigned managed identity, NOT its client id:
# az identity show -g shop-rg -n shop-web-identity --query principalId -o tsv
APP_OBJECT_ID=${APP_OBJECT_ID:-9e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b}
# The node pool's identity, for managed-identity.yaml:
# az vmss identity show -g "$NODE_RESOURCE_GROUP" -n "$NODE_VMSS" --query principalId -o tsv
NODE_OBJECT_ID=${NODE_OBJECT_ID:-c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e6f}
SUBSCRIPTION_ID=${SUBSCRIPTION_ID:-5d2a9c17-8e44-4f1b-b0c3-2a7e91f4d6b8}
# az aks show -g shop-rg -n shop-aks --query nodeResourceGroup -o tsv
NODE_RESOURCE_GROUP=${NODE_RESOURCE_GROUP:-MC_shop-rg_shop-aks_westeurope}
# az vmss list -g "$NODE_RESOURCE_GROUP" --query '[].name' -o tsv
NODE_VMSS=${NODE_VMSS:-aks-nodepool1-31415926-vmss}
# The identity aad-pod-identity binds to pods of aad-pod-identity.yaml (its principalId).
POD_IDENTITY_OBJECT_ID=${POD_IDENTITY_OBJECT_ID:-e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a8b}
# az aks show -g shop-rg -n shop-aks --query oidcIssuerProfile.issuerUrl -o tsv
OIDC_ISSUER=${OIDC_ISSUER:-https://oidc.prod-aks.azure.com/6a9e0c44-1b2d-4e3f-8a7b-9c0d1e2f3a4b/}
# The API server as Vault reaches it, for kubernetes auth (kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
KUBERNETES_HOST=${KUBERNETES_HOST:-https://shop-aks-dns-12345678.hcp.westeurope.azmk8s.io:443}

# --- Secrets engines and example secrets -----------------------------------
vault secrets enable -path=secret -version=2 kv
vault secrets enable -path=kv -version=1 kv
vault secrets enable pki
vault secrets tune -max-lease-ttl=8760h pki
vault write -field=certificate pki/root/generate/internal common_name="shop internal CA" ttl=8760h >/dev/null
vault write pki/roles/web allowed_domains=shop.example.com allow_subdomains=true max_ttl=1h

vault kv put secret/shop/db - <<'JSON'
{"username": "shop_app", "password": "change-me", "config": {"tls": {"mode": "verify-full"}}}
JSON
vault kv put secret/shop/api key='ak_live_change_me'
vault kv put secret/db-pass password='db-secret-password'
vault write kv/shop/legacy token='legacy-token'

# --- Policies: what each role may read ----------------------------------------
# KV v2 paths in policies include data/.
vault policy write shop-web - <<'HCL'
path "secret/data/shop/*" { capabilities = ["read"] }
path "kv/shop/*"          { capabilities = ["read"] }
path "pki/issue/web"      { capabilities = ["create", "update"] }
HCL
vault policy write database - <<'HCL'
path "secret/data/db-pass" { capabilities = ["read"] }
HCL

# --- azure auth: workload identity, node managed identity, aad-pod-identity ---
vault auth enable azure
# resource must equal the aud of the tokens exactly: the provider requests
# https://management.azure.com/ (with the slash) unless azureResource says otherwise.
# client_id/client_secret (or Vault's own managed identity) let Vault read ARM;
# they are needed only for roles bound to resource groups or scale sets.
vault write auth/azure/config tenant_id="$TENANT_ID" resource=https://management.azure.com/ \
  ${VAULT_AZURE_CLIENT_ID:+client_id="$VAULT_AZURE_CLIENT_ID"} ${VAULT_AZURE_CLIENT_SECRET:+client_secret="$VAULT_AZURE_CLIENT_SECRET"}

# Workload identity (workload-identity.yaml, pki-certificate.yaml): bind the
# managed identity's object id ONLY. Resource-group or subscription bounds make
# workload-identity logins fail: their tokens carry no VM to check.
vault write auth/azure/role/shop-web bound_service_principal_ids="$APP_OBJECT_ID" \
  token_policies=shop-web token_ttl=1h token_max_ttl=4h

# The node's managed identity (managed-identity.yaml, azureVMMetadata: "true").
vault write auth/azure/role/node-agent bound_service_principal_ids="$NODE_OBJECT_ID" \
  bound_subscription_ids="$SUBSCRIPTION_ID" bound_resource_groups="$NODE_RESOURCE_GROUP" \
  bound_scale_sets="$NODE_VMSS" token_policies=shop-web token_ttl=1h

# aad-pod-identity (aad-pod-identity.yaml).
vault write auth/azure/role/legacy bound_service_principal_ids="$POD_IDENTITY_OBJECT_ID" \
  token_policies=shop-web token_ttl=1h

# --- kubernetes auth (kubernetes.yaml, hashicorp-compatible.yaml) -------------
# Vault checks tokens with the cluster's TokenReview API. Running outside the
# cluster, give it a reviewer token and the cluster CA (see Vault's docs).
vault auth enable kubernetes
vault write auth/kubernetes/config kubernetes_host="$KUBERNETES_HOST"
vault write auth/kubernetes/role/shop-web bound_service_account_names=web \
  bound_service_account_namespaces=shop audience=vault token_policies=shop-web token_ttl=1h
vault write auth/kubernetes/role/database bound_service_account_names=webapp-sa \
  bound_service_account_namespaces=default audience=vault token_policies=database token_ttl=1h

# --- jwt auth (jwt.yaml): offline verification against the OIDC issuer -------
vault auth enable jwt
vault write auth/jwt/config oidc_discovery_url="$OIDC_ISSUER" bound_issuer="$OIDC_ISSUER"
vault write auth/jwt/role/shop-web role_type=jwt user_claim=sub bound_audiences=vault \
  bound_subject=system:serviceaccount:shop:web token_policies=shop-web token_ttl=1h

echo "Vault is ready for the examples in deploy/examples."
