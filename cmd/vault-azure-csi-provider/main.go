// Command vault-azure-csi-provider is a Secrets Store CSI Driver provider that
// mounts HashiCorp Vault secrets, logging in with the pod's Azure identity.
//
// Without arguments it serves the driver on a unix socket (and, with
// --health-addr / --metrics-addr, probes and metrics over HTTP). The mount
// subcommand runs one mount outside Kubernetes and explains each step; see
// "vault-azure-csi-provider mount --help".
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/cmd/vault-azure-csi-provider/setup"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "mount" {
		return runMount(args[1:], os.Stdout, os.Stderr)
	}
	fs := flag.NewFlagSet("vault-azure-csi-provider", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: vault-azure-csi-provider [flags]         serve the Secrets Store CSI Driver")
		fmt.Fprintln(fs.Output(), "       vault-azure-csi-provider mount [flags]   mount one SecretProviderClass here and explain each step")
		fs.PrintDefaults()
	}
	opts := setup.RegisterFlags(fs)
	klog.InitFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if opts.ShowVersion {
		fmt.Println(version)
		return 0
	}
	if err := setupLogging(opts.LogFormat, fs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer klog.Flush()
	ctx, stop := shutdownContext()
	defer stop()
	if err := serve(ctx, opts); err != nil {
		klog.ErrorS(err, "provider failed")
		return 1
	}
	return 0
}
