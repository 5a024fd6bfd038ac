package world

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
)

// ProviderBinaryEnv names the environment variable with a prebuilt provider
// binary (the Makefile sets it); otherwise the world builds one.
const ProviderBinaryEnv = "PROVIDER_BIN"

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// ProviderBinary returns the provider binary, building it once per process.
func ProviderBinary() (string, error) {
	if p := os.Getenv(ProviderBinaryEnv); p != "" {
		return p, nil
	}
	buildOnce.Do(func() {
		root, err := productRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "vault-azure-provider-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtPath = filepath.Join(dir, "vault-azure-csi-provider")
		cmd := exec.Command("go", "build", "-o", builtPath, "./cmd/vault-azure-csi-provider")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the provider: %v\n%s", err, out)
		}
	})
	return builtPath, buildErr
}

// productRoot finds the product module (the parent of the test module).
func productRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/vaultazure/vault-azure-csi-provider\n") {
			return d, nil
		}
	}
	return "", fmt.Errorf("product module not found above %s", dir)
}

// Provider is a running provider process.
type Provider struct {
	Socket string
	// StartUp is how long the provider took from its start to its first
	// Version answer (polled every 250µs).
	StartUp time.Duration
	cmd     *exec.Cmd
	logs    *syncBuffer
	done    chan error

	stopOnce sync.Once
	stopErr  error
}

// StartProvider runs the provider binary against the world, with the
// world's endpoints and extra flags, and waits until it answers Version.
func (w *World) StartProvider(extra ...string) (*Provider, error) {
	bin, err := ProviderBinary()
	if err != nil {
		return nil, err
	}
	sockDir, err := os.MkdirTemp(w.Dir, "providers-")
	if err != nil {
		return nil, err
	}
	p := &Provider{Socket: filepath.Join(sockDir, "vault-azure.sock"), logs: &syncBuffer{}, done: make(chan error, 1)}
	started := time.Now()
	args := append(w.ProviderArgs(p.Socket), extra...)
	p.cmd = exec.Command(bin, args...)
	// Trust the world's CA for the Entra emulator; any stray call to a real
	// host goes to the world's proxy, which refuses it.
	p.cmd.Env = append(cleanEnv(), "SSL_CERT_FILE="+w.CAFile, "HTTPS_PROXY="+w.Proxy.URL(), "HTTP_PROXY="+w.Proxy.URL(), "NO_PROXY=")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting provider: %w", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	if err := p.waitReady(15 * time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%w\nprovider logs:\n%s", err, p.Logs())
	}
	p.StartUp = time.Since(started)
	return p, nil
}

// How quickly the world's providers tell a deleted pod is gone: its
// dynamic secrets are revoked within about PodGoneAfter plus two
// PodListIntervals and a sweep.
const (
	PodListInterval = 500 * time.Millisecond
	PodGoneAfter    = 2 * time.Second
)

// ProviderArgs are the provider's flags for the world: serving on socket,
// with the world's Vault and Azure endpoints.
func (w *World) ProviderArgs(socket string) []string {
	return []string{
		"--endpoint", socket,
		"--vault-addr", w.Vault.Addr(),
		"--azure-imds-endpoint", w.Azure.IMDSURL(),
		"--azure-authority-host", w.Azure.AuthorityURL(),
		"--azure-nmi-endpoint", w.Azure.NMIURL(),
		"--azure-tenant-id", TenantID,
		"--azure-token-proxy-url", w.TokenProxy.URL(),
		"--azure-token-proxy-ca-file", w.CAFile,
		"--kubelet-pod-resources-socket", w.Kubelet.Socket,
		"--pod-list-interval", PodListInterval.String(),
		"--pod-gone-after", PodGoneAfter.String(),
	}
}

func (p *Provider) waitReady(timeout time.Duration) error {
	start := time.Now()
	deadline := start.Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("provider exited early: %v", err)
		default:
		}
		if _, err := os.Stat(p.Socket); err == nil {
			c, err := driver.Dial(p.Socket)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, verr := c.Version(ctx)
				cancel()
				c.Close()
				if verr == nil {
					return nil
				}
			}
		}
		// Finely at first: StartUp measures how soon a provider serves.
		if time.Since(start) < 200*time.Millisecond {
			time.Sleep(250 * time.Microsecond)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return fmt.Errorf("provider did not serve %s within %s", p.Socket, timeout)
}

// Logs returns everything the provider has logged so far.
func (p *Provider) Logs() string { return p.logs.String() }

// PID returns the provider's process id.
func (p *Provider) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the provider process.
func (p *Provider) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited waits up to timeout for the process to exit and returns its exit
// error, or ok=false if it is still running.
func (p *Provider) Exited(timeout time.Duration) (err error, ok bool) {
	select {
	case err := <-p.done:
		p.done <- err // for Stop
		return err, true
	case <-time.After(timeout):
		return nil, false
	}
}

// Stop sends SIGTERM and waits for the provider to exit (SIGKILL after
// 10s). Later calls return the first one's result.
func (p *Provider) Stop() error {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case p.stopErr = <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			p.stopErr = fmt.Errorf("provider ignored SIGTERM for 10s; killed: %v", <-p.done)
		}
	})
	return p.stopErr
}

// cleanEnv is the process environment without proxy, Vault or Azure settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k := strings.SplitN(kv, "=", 2)[0]
		up := strings.ToUpper(k)
		if strings.HasSuffix(up, "_PROXY") || strings.HasPrefix(up, "VAULT_") || strings.HasPrefix(up, "AZURE_") || up == "SSL_CERT_FILE" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
