// Package e2e runs the provider on a real one-node Kubernetes cluster
// (see package harness): real kubelet, apiserver, Secrets Store CSI Driver
// and containerd; the provider installed from its Helm chart; pods that read
// their secrets as files and environment variables.
package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/node/harness"
)

var (
	node *harness.Cluster
	// skipReason is why the tests cannot run here ("" when they run).
	skipReason string
)

const chartDir = "../../../charts/vault-azure-csi-provider"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if skipReason = harness.Skip(); skipReason != "" {
		fmt.Println("SKIP: real-node tests:", skipReason)
		return m.Run()
	}
	opts, err := harness.OptionsFromEnv(chartDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opts.Logf = func(f string, a ...any) { fmt.Printf(time.Now().Format("15:04:05 ")+f+"\n", a...) }
	c, err := harness.Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	node = c
	for _, t := range c.Timings {
		fmt.Printf("node bring-up: %-34s %s\n", t.Step, t.Duration.Round(10*time.Millisecond))
	}
	code := m.Run()
	t0 := time.Now()
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "tearing the node down:", err)
		code = 1
	} else {
		fmt.Printf("node torn down in %s: no process, mount or cgroup of it is left\n", time.Since(t0).Round(10*time.Millisecond))
	}
	return code
}

// needNode skips a test where the node cannot run.
func needNode(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}
