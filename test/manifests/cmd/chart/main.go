// Command chart packages the provider's Helm chart and pushes it to an OCI
// registry, as helm package and helm push do (make chart, make chart-push).
//
//	chart package -chart DIR -out DIR
//	chart push -archive FILE -repo oci://REGISTRY/PATH
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/vaultazure/vault-azure-csi-provider/test/manifests"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chart package|push [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "package":
		fs := flag.NewFlagSet("package", flag.ExitOnError)
		dir := fs.String("chart", "", "chart directory")
		out := fs.String("out", "", "directory to write the archive into")
		fs.Parse(os.Args[2:])
		var archive string
		if archive, err = manifests.PackageChart(*dir, *out); err == nil {
			fmt.Println("packaged", archive)
		}
	case "push":
		fs := flag.NewFlagSet("push", flag.ExitOnError)
		archive := fs.String("archive", "", "chart archive (make chart)")
		repo := fs.String("repo", "", "oci://registry/path")
		fs.Parse(os.Args[2:])
		if *archive == "" || *repo == "" {
			err = errors.New("push: -archive and -repo are required (make chart-push CHART_REPO=oci://registry/path)")
			break
		}
		var ref, digest string
		if ref, digest, err = manifests.PushChart(*archive, *repo); err == nil {
			fmt.Printf("pushed %s (%s)\n", ref, digest)
		}
	default:
		err = fmt.Errorf("unknown command %q: use package or push", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}
