// Command render regenerates deploy/vault-azure-csi-provider.yaml from the
// Helm chart (make manifests).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vaultazure/vault-azure-csi-provider/test/manifests"
)

func main() {
	chart := flag.String("chart", manifests.ChartDir, "chart directory")
	out := flag.String("out", manifests.DeployFile, "file to write")
	flag.Parse()
	m, err := manifests.DeployManifest(*chart)
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, []byte(m), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", *out)
}
