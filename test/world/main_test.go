package world_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// theWorld is the world these tests check, without a provider.
var theWorld *world.World

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	w, err := world.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the world:", err)
		return 1
	}
	defer w.Close()
	theWorld = w
	code := m.Run()
	if refused := w.Proxy.Refused(); len(refused) > 0 {
		fmt.Fprintln(os.Stderr, "something tried to reach real hosts:", refused)
		code = 1
	}
	return code
}
