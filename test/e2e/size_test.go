package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// TestLargestAllowedMountReachesTheDriver: with the default
// --max-mount-bytes, the largest Mount the provider accepts — found by
// asking it — passes the driver's default 4 MiB gRPC receive limit, for one
// big file and for many files with long names (whose paths and versions
// take room in the answer too).
func TestLargestAllowedMountReachesTheDriver(t *testing.T) {
	p := startProvider(t)
	big, err := driver.DialLimit(p.Socket, 64<<20) // sees what the provider answers
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	layouts := []struct {
		name  string
		names []string
		fixed int // size of every file but the first, whose size is searched
	}{
		{"one file", []string{"big"}, 0},
		{"128 files with long names", longNames(128, 200), 30000},
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			spc := world.SPC("size", withDefaults(map[string]string{"objects": sizeObjects(l.names)}))
			v, err := theWorld.Volume(spc, world.WebPod)
			if err != nil {
				t.Fatal(err)
			}
			accepted := func(first int) bool {
				t.Helper()
				writeSizes(t, l.names, first, l.fixed)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := big.Mount(ctx, v, nil)
				// Refused by the bound on the files, or already on what
				// is read of Vault's answer (--max-mount-bytes + 64 KiB).
				if err != nil && !strings.Contains(err.Error(), "the mounted files exceed") && !strings.Contains(err.Error(), "is larger than the") {
					t.Fatalf("first file of %d bytes: %v", first, err)
				}
				return err == nil
			}
			lo, hi := 1, 4<<20+1 // accepted, refused
			if !accepted(lo) || accepted(hi) {
				t.Fatalf("the search range [%d, %d] does not bracket the limit", lo, hi)
			}
			for hi-lo > 1 {
				if mid := (lo + hi) / 2; accepted(mid) {
					lo = mid
				} else {
					hi = mid
				}
			}
			total := lo + l.fixed*(len(l.names)-1)
			writeSizes(t, l.names, lo, l.fixed)
			if _, err := mountVolume(t, p, v, nil); err != nil {
				t.Fatalf("the largest Mount the provider accepts (%d bytes of files) does not reach a driver with the default 4 MiB limit: %v", total, err)
			}
			if got := readFile(t, v, l.names[0]); len(got) != lo {
				t.Errorf("first file has %d bytes, want %d", len(got), lo)
			}
			t.Logf("largest accepted: %d bytes of files in %d files; it reached the driver", total, len(l.names))
		})
	}
}

func longNames(n, length int) []string {
	out := make([]string, n)
	for i := range out {
		prefix := fmt.Sprintf("f%03d-", i)
		out[i] = prefix + strings.Repeat("x", length-len(prefix))
	}
	return out
}

// sizeObjects reads key k<i> of secret/shop/size into names[i].
func sizeObjects(names []string) string {
	var b strings.Builder
	for i, n := range names {
		fmt.Fprintf(&b, "- {objectName: %s, secretPath: secret/shop/size, secretKey: k%d}\n", n, i)
	}
	return b.String()
}

// writeSizes stores secret/shop/size with a first value of first bytes and
// the others of fixed bytes.
func writeSizes(t *testing.T, names []string, first, fixed int) {
	t.Helper()
	data := map[string]any{}
	for i := range names {
		n := fixed
		if i == 0 {
			n = first
		}
		data[fmt.Sprintf("k%d", i)] = strings.Repeat("s", n)
	}
	writeVault(t, "secret/data/shop/size", map[string]any{"data": data})
}
