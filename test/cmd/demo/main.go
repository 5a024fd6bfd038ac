// Command demo runs the provider's main job end to end on an embedded world:
// an in-process Vault (real HashiCorp backends), an Azure identity emulator,
// the provider binary, and a driver-like client that mounts the example
// SecretProviderClass into a local folder with workload identity.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

func main() {
	out := flag.String("out", "demo-mount", "folder to mount into")
	example := flag.String("spc", "deploy/examples/workload-identity.yaml", "SecretProviderClass file to mount")
	flag.Parse()
	if err := run(*out, *example); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(out, example string) error {
	step("Starting the embedded world (Vault with the real KV, PKI-like, azure and jwt backends; Azure identity emulator)")
	w, err := world.Start()
	if err != nil {
		return err
	}
	defer w.Close()
	fmt.Printf("   Vault:            %s\n   Entra ID (emu):   %s\n   IMDS (emu):       %s\n", w.Vault.Addr(), w.Azure.AuthorityURL(), w.Azure.IMDSURL())

	step("Starting vault-azure-csi-provider on a unix socket, as the DaemonSet does")
	p, err := w.StartProvider()
	if err != nil {
		return err
	}
	defer p.Stop()
	fmt.Printf("   socket:           %s\n", p.Socket)

	spcs, err := driver.LoadSPCs(example)
	if err != nil {
		return err
	}
	if len(spcs) == 0 {
		return fmt.Errorf("no SecretProviderClass in %s", example)
	}
	spc := spcs[0]
	spc.Spec.Parameters["vaultAddress"] = w.Vault.Addr()
	step(fmt.Sprintf("Mounting SecretProviderClass %q from %s for pod %s/%s (service account %q, workload identity)",
		spc.Metadata.Name, example, world.WebPod.Namespace, world.WebPod.Name, world.WebPod.ServiceAccount))
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(abs); err != nil {
		return err
	}
	vol, err := w.VolumeAt(spc, world.WebPod, abs)
	if err != nil {
		return err
	}
	c, err := driver.Dial(p.Socket)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	versions, err := c.Mount(ctx, vol, nil)
	if err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	fmt.Printf("   mounted %d objects in %s\n", len(versions), time.Since(start).Round(time.Millisecond))
	if err := printTree(abs); err != nil {
		return err
	}
	for _, so := range spc.Spec.SecretObjects {
		if err := printSecret(abs, so); err != nil {
			return err
		}
	}
	explain()
	return nil
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }

func printTree(root string) error {
	step("Files the driver wrote (" + root + ")")
	// The driver's atomic writer keeps the files in ..data (a symlink to a
	// timestamped directory) and links each top-level name to it.
	data, err := filepath.EvalSymlinks(filepath.Join(root, "..data"))
	if err != nil {
		return err
	}
	var lines []string
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(data, path)
		if d.IsDir() {
			return nil
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%-16s %s  %s", rel, fi.Mode().Perm(), preview(b)))
		return nil
	})
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println("   " + l)
	}
	return err
}

func preview(b []byte) string {
	s := string(b)
	if strings.HasPrefix(s, "-----BEGIN") {
		return strings.SplitN(s, "\n", 2)[0] + fmt.Sprintf(" … (%d bytes)", len(b))
	}
	if len(s) > 60 {
		return fmt.Sprintf("%q… (%d bytes)", s[:60], len(b))
	}
	return fmt.Sprintf("%q", s)
}

func printSecret(root string, so driver.SecretObject) error {
	data, err := driver.SyncedSecret(root, so)
	if err != nil {
		return err
	}
	step("Kubernetes Secret that secretObjects sync would create (then usable as env vars)")
	fmt.Printf("   apiVersion: v1\n   kind: Secret\n   metadata:\n     name: %s\n   type: %s\n   data:\n", so.SecretName, so.Type)
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("     %s: %s\n", k, base64.StdEncoding.EncodeToString(data[k]))
	}
	return nil
}

func explain() {
	step("What a real AKS cluster replaces")
	fmt.Print(`   embedded Vault            -> your Vault with auth/azure (config resource https://management.azure.com/,
                                role bound_service_principal_ids = the managed identity's object id)
   Azure identity emulator   -> Entra ID + your user-assigned managed identity with a federated
                                credential for system:serviceaccount:shop:web
   fake cluster token issuer -> the AKS OIDC issuer; the driver passes the pod's token
                                (CSIDriver tokenRequests audience api://AzureADTokenExchange)
   driver-like client        -> the Secrets Store CSI Driver on each node (kubelet -> driver -> provider socket)
   provider process          -> the vault-azure-csi-provider DaemonSet (charts/vault-azure-csi-provider)
`)
}
