// Command demo brings the real node up, installs the provider from its Helm
// chart, runs an example pod that reads a Vault secret as a file and as an
// environment variable (synced Secret), prints what the pod printed, and
// tears everything down. make demo-cluster runs it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vaultazure/vault-azure-csi-provider/test/node/harness"
)

func main() {
	chart := flag.String("chart", "../../charts/vault-azure-csi-provider", "the provider's Helm chart")
	flag.Parse()
	if err := run(*chart); err != nil {
		fmt.Fprintln(os.Stderr, "demo-cluster:", err)
		os.Exit(1)
	}
}

func run(chart string) (err error) {
	if reason := harness.Skip(); reason != "" {
		return errors.New(reason)
	}
	opts, err := harness.OptionsFromEnv(chart)
	if err != nil {
		return err
	}
	opts.Logf = func(f string, a ...any) { fmt.Printf(f+"\n", a...) }
	c, err := harness.Start(opts)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("tearing the node down...")
		err = errors.Join(err, c.Close())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	tenant, err := c.AddTenant(ctx, "demo", "web")
	if err != nil {
		return err
	}
	if err := c.World.VaultWrite(ctx, "secret/data/demo/db", map[string]any{"data": map[string]any{"password": "demo-" + harness.NewUUID()[:8]}}); err != nil {
		return err
	}
	class := harness.SecretProviderClass("demo", "db", tenant.WorkloadParams(),
		[]harness.Object{{Name: "db-password", Path: "secret/data/demo/db", Key: "password", Perm: "0640"}},
		map[string]any{"secretName": "db", "type": "Opaque", "data": []any{map[string]any{"objectName": "db-password", "key": "DB_PASSWORD"}}})
	if err := c.ApplyObject(ctx, class); err != nil {
		return err
	}
	pod := harness.AppPod{ServiceAccount: "web", Class: "db", Files: []string{"db-password"},
		EnvFrom: map[string][2]string{"DB_PASSWORD": {"db", "DB_PASSWORD"}}}.Pod("demo", "web")
	if _, err := c.Client.CoreV1().Pods("demo").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	fmt.Printf("\nSecretProviderClass demo/db (workload identity %s, role %s), pod demo/web:\n", tenant.Identity.ClientID, "demo")
	running, err := c.WaitPodRunning(ctx, "demo", "web", 2*time.Minute)
	if err != nil {
		return err
	}
	var lines []string
	deadline := time.Now().Add(30 * time.Second)
	for len(lines) < 2 && time.Now().Before(deadline) {
		lines, _ = c.ContainerLog(running, "app")
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Println("\nthe container printed (from the kubelet's pod log):")
	for _, l := range lines {
		var v map[string]string
		if json.Unmarshal([]byte(l), &v) == nil && v["file"] != "" {
			fmt.Printf("  file %s (mode %s): %s\n", v["file"], v["mode"], v["content"])
		} else if v["env"] != "" {
			fmt.Printf("  env %s=%s\n", v["env"], v["content"])
		} else {
			fmt.Println("  " + l)
		}
	}
	ev, _ := c.EventsFor(ctx, "demo", "web")
	fmt.Printf("\npod events:\n  %s\n\n", strings.Join(ev, "\n  "))
	if len(lines) < 2 {
		return errors.New("the pod did not print its file and env var")
	}
	return nil
}
