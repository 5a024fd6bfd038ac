package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// containerdConfig is containerd 1.6's config (version 2) for this node:
// own root, state, sockets and runc root under the cluster's directory; no
// CNI (pods use the host's network); cgroupfs.
//
// restrict_oom_score_adj is required on machines without CAP_SYS_RESOURCE:
// without it every sandbox fails with "can't get final child's PID from
// pipe: EOF".
const containerdConfig = `version = 2
root = "{{DIR}}/containerd/root"
state = "{{DIR}}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{{DIR}}/containerd/containerd.sock"

[ttrpc]
  address = "{{DIR}}/containerd/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{{DIR}}/containerd/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{{PAUSE}}"
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    disable_apparmor = true
    enable_selinux = false
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "{{DIR}}/containerd/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{{DIR}}/cni/bin"
      conf_dir = "{{DIR}}/cni/net.d"
`

// startContainerd runs Debian's containerd with the config above, then
// builds and imports the node's images.
func (c *Cluster) startContainerd() error {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return fmt.Errorf("containerd is not installed (make e2e-cluster installs the containerd and runc packages): %w", err)
	}
	if c.ctrBin, err = exec.LookPath("ctr"); err != nil {
		return fmt.Errorf("ctr (from the containerd package) is not installed: %w", err)
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return fmt.Errorf("runc is not installed: %w", err)
	}
	for _, d := range []string{"cni/bin", "cni/net.d", "containerd/opt"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return err
		}
	}
	cfg := strings.NewReplacer("{{DIR}}", c.Dir, "{{PAUSE}}", PauseImage).Replace(containerdConfig)
	cfgPath := c.path("containerd", "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	c.containerd = c.path("containerd", "containerd.sock")
	p, err := c.startProc("containerd", bin, []string{"--config", cfgPath, "--log-level", "warn"}, nil)
	if err != nil {
		return err
	}
	if err := waitProc(p, 30*time.Second, "containerd's socket", func() (bool, error) {
		conn, err := net.Dial("unix", c.containerd)
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	}); err != nil {
		return err
	}
	return c.buildImages()
}
