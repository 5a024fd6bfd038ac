// Command vault-azure-csi-provider is a Secrets Store CSI Driver provider that
// mounts HashiCorp Vault secrets, logging in with the pod's Azure identity.
//
// Without arguments it serves the driver on a unix socket (and, with
// --health-addr / --metrics-addr, probes and metrics over HTTP). The mount
// subcommand runs one mount outside Kubernetes and explains each step; see
// "vault-azure-csi-provider mount --help".
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/cmd/vault-azure-csi-provider/setup"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

const usage = `usage: vault-azure-csi-provider [flags]         serve the Secrets Store CSI Driver
       vault-azure-csi-provider mount [flags]   mount one SecretProviderClass here and explain each step
       vault-azure-csi-provider --version       print the version

flags:
`

func run(args []string) int {
	return runWith(args, os.Stdout, os.Stderr)
}

func runWith(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "mount" {
		return runMount(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("vault-azure-csi-provider", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	opts := setup.RegisterFlags(fs)
	klog.InitFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // asked for: the usage is the answer
		}
		return 2
	}
	if fs.NArg() > 0 {
		// A stray word must not start a server (and create its socket
		// directory) as if nothing had been said.
		fmt.Fprintf(stderr, "unknown command %q: the provider takes flags only, or the mount command\n\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if opts.ShowVersion {
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	if err := setupLogging(opts.LogFormat); err != nil {
		fmt.Fprintln(stderr, err)
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
