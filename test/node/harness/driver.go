package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vaultazure/vault-azure-csi-provider/test/node/registrar"
)

// DriverName is the Secrets Store CSI Driver's name.
const DriverName = "secrets-store.csi.k8s.io"

// runDriver starts the driver's process with rotation on (at poll) or
// off, and waits for its socket.
func (c *Cluster) runDriver(rotation bool, poll time.Duration) error {
	args := append(slices.Clone(c.driverArgs), fmt.Sprintf("--enable-secret-rotation=%v", rotation))
	if rotation {
		args = append(args, "--rotation-poll-interval="+poll.String())
	}
	p, err := c.startProc("secrets-store-csi-driver", c.bin("secrets-store-csi-driver"), args, c.driverEnv)
	if err != nil {
		return err
	}
	return waitProc(p, 30*time.Second, "the driver's socket", func() (bool, error) {
		conn, err := net.Dial("unix", c.driverSocket)
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	})
}

// RestartDriver restarts the driver with rotation on (at poll) or off (its
// default). The kubelet keeps the registration; mounted volumes stay.
func (c *Cluster) RestartDriver(rotation bool, poll time.Duration) error {
	if p := c.byName["secrets-store-csi-driver"]; p != nil {
		if err := p.stop(20 * time.Second); err != nil {
			return err
		}
	}
	return c.runDriver(rotation, poll)
}

// startDriver runs the driver's node server as its DaemonSet would (the
// kubelet's plugin directory, the providers directory, rotation on with a
// short poll, a service-account kubeconfig bound to the driver's RBAC), then
// registers it with the kubelet.
func (c *Cluster) startDriver() error {
	c.ProvidersDir = filepath.Join(c.Dir, "providers")
	if err := os.MkdirAll(c.ProvidersDir, 0o755); err != nil {
		return err
	}
	_, tokenFile, err := c.serviceAccountToken(driverServiceAccount, 24*time.Hour)
	if err != nil {
		return err
	}
	kubeconfig, err := c.writeKubeconfig("secrets-store-csi-driver", nil, tokenFile)
	if err != nil {
		return err
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	sock := filepath.Join(c.KubeletRoot, "plugins", "csi-secrets-store", "csi.sock")
	if err := os.MkdirAll(filepath.Dir(sock), 0o750); err != nil {
		return err
	}
	c.driverArgs = []string{
		"--endpoint=unix://" + sock,
		"--nodeid=" + NodeName,
		"--provider-volume=" + c.ProvidersDir,
		"--additional-provider-volume-paths=" + c.ProvidersDir,
		"--metrics-addr=" + hostPort(ports[0]),
		"--v=3",
	}
	c.driverEnv, c.driverSocket = []string{"KUBECONFIG=" + kubeconfig}, sock
	if err := c.runDriver(true, c.opts.RotationPoll); err != nil {
		return err
	}
	reg, err := registrar.Start(filepath.Join(c.KubeletRoot, "plugins_registry"), DriverName, sock)
	if err != nil {
		return err
	}
	c.stopReg = reg.Stop
	return waitProc(c.byName["secrets-store-csi-driver"], 60*time.Second, "the kubelet to register the driver", func() (bool, error) {
		if ok, msg := reg.Status(); !ok && msg != "" {
			return false, fmt.Errorf("kubelet refused the driver: %s", msg)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := c.Client.StorageV1().CSINodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, d := range n.Spec.Drivers {
			if d.Name == DriverName {
				return true, nil
			}
		}
		return false, nil
	})
}

// RestoreDriver restarts the driver as the cluster started it (rotation on
// at Options.RotationPoll).
func (c *Cluster) RestoreDriver() error { return c.RestartDriver(true, c.opts.RotationPoll) }
