// Package e2e runs the provider binary in the hermetic world and mounts
// volumes through the driver's own client code, as the CSI driver would.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

var (
	theWorld *world.World
	prov     *world.Provider
)

func TestMain(m *testing.M) {
	os.Exit(world.RunTests(m, func(w *world.World) (func() error, error) {
		theWorld = w
		// No secret cache: the tests change secrets and inject faults between
		// mounts and expect every mount to read (perf_test.go covers the cache).
		p, err := w.StartProvider("--allow-node-identity-namespaces=ops", "-v=5", "--secret-cache-ttl=0")
		if err != nil {
			return nil, fmt.Errorf("starting the provider: %w", err)
		}
		prov = p
		return func() error {
			if err := p.Stop(); err != nil {
				return fmt.Errorf("provider did not stop cleanly: %w", err)
			}
			return nil
		}, nil
	}))
}

// mount mounts spc for pod through the provider p and returns the volume
// and object versions.
func mount(t *testing.T, p *world.Provider, spc *driver.SecretProviderClass, pod world.Pod, current map[string]string) (*driver.Volume, map[string]string, error) {
	t.Helper()
	v, err := theWorld.Volume(spc, pod)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := mountVolume(t, p, v, current)
	return v, versions, err
}

func mountVolume(t *testing.T, p *world.Provider, v *driver.Volume, current map[string]string) (map[string]string, error) {
	t.Helper()
	c, err := driver.Dial(p.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Mount(ctx, v, current)
}

func readFile(t *testing.T, v *driver.Volume, name string) string {
	t.Helper()
	b, err := os.ReadFile(v.TargetPath + "/" + name)
	if err != nil {
		t.Fatalf("reading mounted %s: %v", name, err)
	}
	return string(b)
}
