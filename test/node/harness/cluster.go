// Package harness brings up a real one-node Kubernetes cluster for the
// provider's end-to-end tests: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd (Debian's, with runc), kubelet, the Secrets Store
// CSI Driver's node server with a kubelet plugin registrar, and the test
// world (Vault front, Azure emulator) as a subprocess. The provider is
// installed from the Helm chart as users install it. Everything listens on
// 127.0.0.1 or unix sockets, all state lives in one temporary directory, and
// Close stops every process and checks that none is left.
package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// NodeName is the name the kubelet registers.
const NodeName = "vaultazure-node"

// Options say where the binaries are and how fast the node re-publishes.
type Options struct {
	// BinDir holds kube-apiserver, kube-controller-manager, kube-scheduler,
	// kubelet, etcd, secrets-store-csi-driver, world, pause and app.
	BinDir string
	// ProviderBin is the provider binary (make build) to put in its image.
	ProviderBin string
	// DriverDeployDir is the driver module's deploy/ directory (CRDs, RBAC).
	DriverDeployDir string
	// ChartDir is charts/vault-azure-csi-provider.
	ChartDir string
	// SyncFrequency is the kubelet's pod sync period, which is also how often
	// it re-publishes volumes of a requiresRepublish CSI driver.
	SyncFrequency time.Duration
	// RotationPoll is the driver's --rotation-poll-interval.
	RotationPoll time.Duration
	// ProviderArgs are extra provider flags (chart value extraArgs).
	ProviderArgs []string
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
	// KeepLogs, when set, is a directory that Close copies the components'
	// and pods' logs into before it removes everything.
	KeepLogs string
}

// Cluster is a running node.
type Cluster struct {
	Dir          string
	APIServerURL string
	// KubeletRoot is the kubelet's --root-dir; pod volumes are under it.
	KubeletRoot string
	// PodLogsDir is where the kubelet keeps container logs.
	PodLogsDir string
	// ProvidersDir is the driver's --provider-volume (the chart's providersDir).
	ProvidersDir string
	// Client and Dynamic act as cluster-admin.
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	Admin   *rest.Config
	World   *World
	// Timings records how long each bring-up step took.
	Timings []Timing

	opts       Options
	pki        *pki
	admin      certPair
	saKeyFile  string
	saPubFile  string
	etcdURL    string
	cgroupRoot string
	containerd string // containerd's socket
	ctrBin     string
	mapper     *restMapper
	procs      []*proc
	byName     map[string]*proc
	stopReg    func()
	// the driver's command line without its rotation flags (RestartDriver)
	driverArgs, driverEnv []string
	driverSocket          string
	started               time.Time
	closed                bool
	closeErr              error
	// newHostDirs are the hostDirs that did not exist before Start.
	newHostDirs []string
}

// hostDirs are the directories outside the run's directory that the
// components create at paths they do not let us choose: the kubelet's
// device-plugin socket (/var/lib/kubelet/device-plugins) and container log
// links (/var/log/containers), containerd's shim sockets (/run/containerd/s).
// Close removes those that Start did not find.
var hostDirs = []string{"/var/lib/kubelet", "/var/log/containers", "/run/containerd"}

// Timing is the duration of one bring-up step.
type Timing struct {
	Step     string
	Duration time.Duration
}

// Skip returns why the node cannot run here, or "" when it can: it needs
// Linux and root (mounts, cgroups, containerd).
func Skip() string {
	if runtime.GOOS != "linux" {
		return "the real-node tests need Linux (this is " + runtime.GOOS + ")"
	}
	if os.Geteuid() != 0 {
		return "the real-node tests need root (kubelet, containerd and the CSI driver mount and create cgroups)"
	}
	return ""
}

// Start brings the node up. On error everything started so far is stopped.
func Start(opts Options) (*Cluster, error) {
	if reason := Skip(); reason != "" {
		return nil, errors.New(reason)
	}
	if err := opts.complete(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vault-azure-node-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, opts: opts, byName: map[string]*proc{}, started: time.Now()}
	for _, d := range hostDirs {
		if _, err := os.Lstat(d); os.IsNotExist(err) {
			c.newHostDirs = append(c.newHostDirs, d)
		}
	}
	if err := c.bringUp(); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	c.logf("node: up in %s", time.Since(c.started).Round(100*time.Millisecond))
	return c, nil
}

func (c *Cluster) bringUp() error {
	steps := []struct {
		name string
		run  func() error
	}{
		{"certificates", c.makePKI},
		{"world", c.startWorld},
		{"etcd", c.startEtcd},
		{"kube-apiserver", c.startAPIServer},
		{"cluster objects", c.bootstrapObjects},
		{"controller-manager and scheduler", c.startControllers},
		{"containerd and images", c.startContainerd},
		{"kubelet", c.startKubelet},
		{"csi driver", c.startDriver},
		{"vault kubernetes auth", c.configureVaultKubernetesAuth},
		{"provider chart", c.installProvider},
	}
	for _, s := range steps {
		t0 := time.Now()
		c.logf("node: %s...", s.name)
		if err := s.run(); err != nil {
			return fmt.Errorf("bringing the node up: %s: %w", s.name, err)
		}
		c.Timings = append(c.Timings, Timing{s.name, time.Since(t0)})
	}
	return nil
}

func (o *Options) complete() error {
	if o.BinDir == "" || o.ProviderBin == "" || o.DriverDeployDir == "" || o.ChartDir == "" {
		return errors.New("harness: BinDir, ProviderBin, DriverDeployDir and ChartDir are required")
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "etcd", "secrets-store-csi-driver", "world", "pause", "app", "syncdrive"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return fmt.Errorf("harness: binary %s missing in %s (make node-bins builds them): %w", b, o.BinDir, err)
		}
	}
	if _, err := os.Stat(o.ProviderBin); err != nil {
		return fmt.Errorf("harness: provider binary: %w", err)
	}
	if o.SyncFrequency == 0 {
		o.SyncFrequency = 5 * time.Second
	}
	if o.RotationPoll == 0 {
		o.RotationPoll = 5 * time.Second
	}
	return nil
}

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// path joins elements under the cluster's directory and makes sure the
// parent directory exists.
func (c *Cluster) path(elem ...string) string {
	p := filepath.Join(append([]string{c.Dir}, elem...)...)
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	return p
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.opts.BinDir, name) }

// Logs returns the tail of a component's log ("kubelet", "secrets-store-csi-driver", ...).
func (c *Cluster) Logs(name string, n int64) string {
	if p := c.byName[name]; p != nil {
		return p.tail(n)
	}
	return ""
}
