package main

import (
	"fmt"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// benchPaths is how many distinct KV v2 secrets the bench seeds; the
// n-object class reads the first n of them.
const benchPaths = 10

// identity is one Azure workload identity of the bench: a managed identity
// federated to its own service account, and a Vault role bound to it.
type identity struct {
	role, clientID, serviceAccount string
}

// webIdentity is the world's own application identity.
var webIdentity = identity{role: "shop-web", clientID: world.AppIdentity.ClientID, serviceAccount: world.WebPod.ServiceAccount}

// seed writes the bench secrets and n-1 extra identities (the web identity
// is the first).
func seed(w *world.World, n int) ([]identity, error) {
	root, err := w.Root()
	if err != nil {
		return nil, err
	}
	for i := range benchPaths {
		path := fmt.Sprintf("secret/data/shop/bench-%d", i)
		if _, err := root.Logical().Write(path, map[string]any{"data": map[string]any{"value": fmt.Sprintf("value-%d", i)}}); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	ids := []identity{webIdentity}
	for i := 1; i < n; i++ {
		id := identity{
			role:           fmt.Sprintf("bench-%d", i),
			clientID:       fmt.Sprintf("0be0c000-0000-4000-8000-%012d", i),
			serviceAccount: fmt.Sprintf("bench-sa-%d", i),
		}
		objectID := fmt.Sprintf("0be0d000-0000-4000-8000-%012d", i)
		w.Azure.AddIdentity(azureemu.Identity{Name: id.role, ClientID: id.clientID, ObjectID: objectID,
			ResourceID: "/subscriptions/" + world.SubscriptionID + "/resourceGroups/shop-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + id.role})
		w.Azure.AddFederatedCredential(id.clientID, world.ClusterIssuerURL, "system:serviceaccount:"+world.WebPod.Namespace+":"+id.serviceAccount)
		if _, err := root.Logical().Write("auth/azure/role/"+id.role, map[string]any{
			"bound_service_principal_ids": objectID, "token_policies": "shop-web", "token_ttl": "1h",
		}); err != nil {
			return nil, fmt.Errorf("writing role %s: %w", id.role, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// spc is a SecretProviderClass for id with the first n bench secrets.
func spc(id identity, n int) *driver.SecretProviderClass {
	var objs strings.Builder
	for i := range n {
		fmt.Fprintf(&objs, "- {objectName: secret-%d, secretPath: secret/shop/bench-%d, secretKey: value}\n", i, i)
	}
	return world.SPC(fmt.Sprintf("bench-%s-%d", id.role, n), map[string]string{
		"roleName": id.role, "clientID": id.clientID, "objects": objs.String(),
	})
}

// volumes prepares count pods spread evenly over ids (pod i has identity
// i mod len(ids)), each with distinct name and UID, mounting n objects.
func volumes(w *world.World, ids []identity, count, n int) ([]*driver.Volume, error) {
	vols := make([]*driver.Volume, count)
	classes := make([]*driver.SecretProviderClass, len(ids))
	for i, id := range ids {
		classes[i] = spc(id, n)
	}
	for i := range vols {
		id := i % len(ids)
		pod := world.Pod{Name: fmt.Sprintf("bench-%d-%04d", id, i), Namespace: world.WebPod.Namespace,
			UID: fmt.Sprintf("b0000000-0000-4000-8000-%012d", i), ServiceAccount: ids[id].serviceAccount}
		v, err := w.VolumeAt(classes[id], pod, w.Dir+"/bench-target")
		if err != nil {
			return nil, err
		}
		vols[i] = v
	}
	return vols, nil
}
