package e2e

import (
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

const rotationObjects = `
- objectName: password
  secretPath: secret/shop/rotating
  secretKey: password
- objectName: api-key
  secretPath: secret/shop/api
  secretKey: key
`

func writeRotating(t *testing.T, password string) {
	t.Helper()
	root, err := theWorld.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("secret/data/shop/rotating", map[string]any{"data": map[string]any{"password": password}}); err != nil {
		t.Fatal(err)
	}
}

func TestRotationChangesVersionExactlyWhenContentChanges(t *testing.T) {
	writeRotating(t, "first")
	spc := world.SPC("rotating", map[string]string{"roleName": "shop-web", "clientID": world.AppIdentity.ClientID, "objects": rotationObjects})
	v, first, err := mount(t, prov, spc, world.WebPod, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A rotation poll with nothing changed: same versions.
	again, err := mountVolume(t, prov, v, first)
	if err != nil {
		t.Fatal(err)
	}
	if again["password"] != first["password"] || again["api-key"] != first["api-key"] {
		t.Errorf("versions changed without a change: %v → %v", first, again)
	}
	writeRotating(t, "second")
	rotated, err := mountVolume(t, prov, v, again)
	if err != nil {
		t.Fatal(err)
	}
	if rotated["password"] == again["password"] {
		t.Errorf("password version did not change after rotation: %s", rotated["password"])
	}
	if rotated["api-key"] != again["api-key"] {
		t.Errorf("api-key version changed though its content did not")
	}
	if got := readFile(t, v, "password"); got != "second" {
		t.Errorf("rotated file = %q, want %q", got, "second")
	}
	// Rotating back to the old content yields the old version again.
	writeRotating(t, "first")
	back, err := mountVolume(t, prov, v, rotated)
	if err != nil {
		t.Fatal(err)
	}
	if back["password"] != first["password"] {
		t.Errorf("same content, different version: %s vs %s", back["password"], first["password"])
	}
}

func TestSecretObjectsSyncYieldsKubernetesSecret(t *testing.T) {
	spc := world.SPC("synced", map[string]string{"roleName": "shop-web", "clientID": world.AppIdentity.ClientID, "objects": shopObjects})
	spc.Spec.SecretObjects = []driver.SecretObject{{
		SecretName: "shop-db", Type: "Opaque",
		Data: []driver.SecretObjectData{{ObjectName: "db-username", Key: "DB_USER"}, {ObjectName: "db-password", Key: "DB_PASSWORD"}},
	}}
	v, _, err := mount(t, prov, spc, world.WebPod, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := driver.SyncedSecret(v.TargetPath, spc.Spec.SecretObjects[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(data["DB_USER"]) != world.DBUsername || string(data["DB_PASSWORD"]) != world.DBPassword {
		t.Errorf("synced Secret data = %q", data)
	}
}

func TestHashiCorpSecretProviderClassWorksUnchanged(t *testing.T) {
	spcs, err := driver.LoadSPCs("../../deploy/examples/hashicorp-compatible.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(spcs) != 1 {
		t.Fatalf("want one SecretProviderClass, got %d", len(spcs))
	}
	spc := spcs[0]
	// The only edit: the Vault address of this world (the example names an in-cluster service).
	spc.Spec.Parameters["vaultAddress"] = theWorld.Vault.Addr()
	v, err := theWorld.Volume(spc, world.HashiCorpPod)
	if err != nil {
		t.Fatal(err)
	}
	delete(v.Tokens, world.AudienceAzure) // a CSIDriver with tokenRequests for Vault only
	if _, err := mountVolume(t, prov, v, nil); err != nil {
		t.Fatalf("mount: %v", err)
	}
	if got := readFile(t, v, "db-password"); got != world.HashiCorpDBPwd {
		t.Errorf("db-password = %q", got)
	}
}
