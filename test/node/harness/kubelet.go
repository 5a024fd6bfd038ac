package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeletConfig is the kubelet's configuration file. failCgroupV1: false
// lets it run on this cgroup v1 host; the eviction and image GC thresholds
// are relaxed so that a busy shared machine does not evict test pods or
// delete the imported images; syncFrequency is how often it syncs each pod,
// which for a requiresRepublish CSI driver is also how often it calls
// NodePublishVolume again.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: {{PORT}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {{HEALTHZ}}
tlsCertFile: {{CERT}}
tlsPrivateKeyFile: {{KEY}}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: {{CA}}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: unix://{{CONTAINERD}}
cgroupDriver: cgroupfs
cgroupRoot: {{CGROUP}}
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
podLogsDir: {{LOGS}}
volumePluginDir: {{VOLPLUGINS}}
syncFrequency: {{SYNC}}
fileCheckFrequency: 20s
nodeStatusUpdateFrequency: 10s
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 50
resolvConf: ""
registerNode: true
`

// startKubelet runs the kubelet against containerd and waits until its node
// is registered.
func (c *Cluster) startKubelet() error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	serving, err := c.pki.issue("kubelet", "system:node:"+NodeName, []string{"system:nodes"}, "127.0.0.1", "localhost", NodeName)
	if err != nil {
		return err
	}
	kubeconfig, err := c.writeKubeconfig("kubelet", &serving, "")
	if err != nil {
		return err
	}
	if err := c.makeCgroupRoot(); err != nil {
		return err
	}
	c.KubeletRoot = c.path("kubelet", "root")
	c.PodLogsDir = c.path("kubelet", "pod-logs")
	for _, d := range []string{c.KubeletRoot, c.PodLogsDir, c.path("kubelet", "volume-plugins")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return err
		}
	}
	cfg := strings.NewReplacer(
		"{{PORT}}", fmt.Sprint(ports[0]), "{{HEALTHZ}}", fmt.Sprint(ports[1]),
		"{{CERT}}", serving.Cert, "{{KEY}}", serving.Key, "{{CA}}", c.pki.CAFile,
		"{{CONTAINERD}}", c.containerd, "{{CGROUP}}", c.cgroupRoot, "{{LOGS}}", c.PodLogsDir,
		"{{VOLPLUGINS}}", c.path("kubelet", "volume-plugins"), "{{SYNC}}", c.opts.SyncFrequency.String(),
	).Replace(kubeletConfig)
	cfgPath := c.path("kubelet", "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	p, err := c.startProc("kubelet", c.bin("kubelet"), []string{
		"--config=" + cfgPath, "--kubeconfig=" + kubeconfig,
		"--root-dir=" + c.KubeletRoot, "--cert-dir=" + c.path("kubelet", "pki"),
		"--hostname-override=" + NodeName,
		"--v=2",
	}, nil)
	if err != nil {
		return err
	}
	return waitProc(p, 90*time.Second, "node "+NodeName+" to register", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		// The node stays NotReady without CNI, but its kubelet must be
		// running and posting status.
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Reason != "" {
				return true, nil
			}
		}
		return false, nil
	})
}

// cgroupV1Root is where the host mounts its cgroup hierarchies.
const cgroupV1Root = "/sys/fs/cgroup"

// makeCgroupRoot creates the kubelet's --cgroup-root in every cgroup v1
// hierarchy, so that all pod cgroups live under one name of this run and
// can be checked and removed at the end.
func (c *Cluster) makeCgroupRoot() error {
	c.cgroupRoot = "/" + filepath.Base(c.Dir)
	dirs, err := c.cgroupDirs()
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", d, err)
		}
	}
	return nil
}

// cgroupDirs returns this run's cgroup root in each hierarchy (the one
// unified hierarchy on a cgroup v2 host).
func (c *Cluster) cgroupDirs() ([]string, error) {
	if _, err := os.Stat(filepath.Join(cgroupV1Root, "cgroup.controllers")); err == nil {
		return []string{filepath.Join(cgroupV1Root, c.cgroupRoot)}, nil
	}
	entries, err := os.ReadDir(cgroupV1Root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "unified" {
			continue
		}
		out = append(out, filepath.Join(cgroupV1Root, e.Name(), c.cgroupRoot))
	}
	return out, nil
}
