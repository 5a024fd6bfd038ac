package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/cmd/vault-azure-csi-provider/setup"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/metrics"
)

const mountUsage = `usage: vault-azure-csi-provider mount --spc FILE.yaml [--spc-name NAME] --pod-namespace NS --service-account SA
         [--pod-name POD] [--token-file [AUDIENCE=]FILE]... [--out DIR] [server flags: --vault-addr, --azure-tenant-id, ...]

Runs the provider's Mount for one SecretProviderClass in this process, outside
Kubernetes, and checks each step on the way: parameters, the service-account
token, the Azure identity, Vault, the login and every object. It prints ✓ or ✗
per step with the reason and the fix, and writes the files into --out.

A service-account token for a pod's service account: kubectl create token SA -n NS --audience AUDIENCE.
--token-file without AUDIENCE= is for audience api://AzureADTokenExchange (workload identity);
an identity binding needs --token-file api://AKSIdentityBinding=FILE.
`

// mountOptions are the flags of the mount command: the server's flags plus
// the pod and SecretProviderClass to mount.
type mountOptions struct {
	*setup.Options
	spcFile, spcName string
	podNamespace     string
	podName, podUID  string
	serviceAccount   string
	out              string
	timeout          time.Duration
	tokens           tokenFiles
}

// tokenFiles is the repeatable --token-file flag: AUDIENCE=FILE or FILE.
type tokenFiles []tokenFile

type tokenFile struct{ audience, path string }

func (t *tokenFiles) String() string {
	parts := make([]string, 0, len(*t))
	for _, f := range *t {
		parts = append(parts, f.audience+"="+f.path)
	}
	return strings.Join(parts, ",")
}

// Set parses AUDIENCE=FILE; a value that names an existing file, or has no
// "=", is a file for the workload identity audience.
func (t *tokenFiles) Set(v string) error {
	if v == "" {
		return errors.New("empty --token-file")
	}
	aud, path, ok := strings.Cut(v, "=")
	if _, err := os.Stat(v); err == nil || !ok {
		aud, path = azure.WorkloadAudience, v
	}
	if aud == "" || path == "" {
		return fmt.Errorf("--token-file %q: use AUDIENCE=FILE or FILE", v)
	}
	*t = append(*t, tokenFile{audience: aud, path: path})
	return nil
}

func registerMountFlags(fs *flag.FlagSet) *mountOptions {
	mo := &mountOptions{Options: setup.RegisterFlags(fs)}
	fs.StringVar(&mo.spcFile, "spc", "", "YAML file with the SecretProviderClass (multi-document files are fine)")
	fs.StringVar(&mo.spcName, "spc-name", "", "name of the SecretProviderClass in --spc (default: the first)")
	fs.StringVar(&mo.podNamespace, "pod-namespace", "", "namespace of the pod (default: the SecretProviderClass's)")
	fs.StringVar(&mo.podName, "pod-name", "", "name of the pod (required for azureIdentity podIdentity)")
	fs.StringVar(&mo.podUID, "pod-uid", "", "UID of the pod (optional)")
	fs.StringVar(&mo.serviceAccount, "service-account", "", "service account of the pod")
	fs.StringVar(&mo.out, "out", "", "directory to write the files into (default: do not write)")
	fs.DurationVar(&mo.timeout, "timeout", 2*time.Minute, "time limit for the whole mount")
	fs.Var(&mo.tokens, "token-file", "service-account token file, [AUDIENCE=]FILE; repeatable (default audience "+azure.WorkloadAudience+")")
	return mo
}

// runMount is the mount command: it returns 0 when the mount succeeded, 1
// when a step failed and 2 on bad usage.
func runMount(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vault-azure-csi-provider mount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, mountUsage)
		fs.PrintDefaults()
	}
	mo := registerMountFlags(fs)
	klog.InitFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if mo.spcFile == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "mount: --spc is required and no positional arguments are accepted")
		fs.Usage()
		return 2
	}
	if err := setupLogging(mo.LogFormat); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if !flagSet(fs, "v") {
		// The report says everything; the provider's own log lines only with -v.
		klog.SetLogger(logr.Discard())
	}
	defer klog.Flush()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, mo.timeout)
	defer cancel()
	w, err := setup.New(mo.Options, metrics.New())
	if err != nil {
		fmt.Fprintln(stderr, "mount:", err)
		return 2
	}
	d := &diagnosis{mo: mo, w: w, r: &report{out: stdout}}
	if !d.run(ctx) {
		fmt.Fprintln(stdout, "\nmount failed: fix the first ✗ above and run this command again")
		return 1
	}
	fmt.Fprintln(stdout, "\nmount succeeded")
	return 0
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// writeFiles writes the mount's files under dir, each atomically (a
// temporary file renamed into place), with the file's mode.
func writeFiles(dir string, files []provider.File) error {
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if !strings.HasPrefix(p, root+string(filepath.Separator)) {
			return fmt.Errorf("object %q would be written outside %s", f.Path, root)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("creating the directory of %s: %w", f.Path, err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-")
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		_, werr := tmp.Write(f.Contents)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), f.Mode.Perm())); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		if err := os.Rename(tmp.Name(), p); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	return nil
}
