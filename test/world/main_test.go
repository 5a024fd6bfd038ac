package world_test

import (
	"os"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// theWorld is the world these tests check, without a provider.
var theWorld *world.World

func TestMain(m *testing.M) {
	os.Exit(world.RunTests(m, func(w *world.World) (func() error, error) {
		theWorld = w
		return nil, nil
	}))
}
