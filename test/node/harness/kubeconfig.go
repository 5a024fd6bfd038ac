package harness

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"k8s.io/client-go/rest"
)

// writeKubeconfig writes a kubeconfig for the cluster's apiserver that
// authenticates with a client certificate, or with a bearer token file.
func (c *Cluster) writeKubeconfig(name string, cert *certPair, tokenFile string) (string, error) {
	user := "    tokenFile: " + tokenFile + "\n"
	if cert != nil {
		user = "    client-certificate: " + cert.Cert + "\n    client-key: " + cert.Key + "\n"
	}
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: node
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
%scontexts:
- name: node
  context:
    cluster: node
    user: %s
current-context: node
`, c.APIServerURL, c.pki.CAFile, name, user, name)
	path := c.path("kubeconfig", name+".yaml")
	return path, os.WriteFile(path, []byte(text), 0o600)
}

// restConfig is a client configuration for a certificate pair.
func (c *Cluster) restConfig(cert certPair) *rest.Config {
	return &rest.Config{
		Host: c.APIServerURL,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: c.pki.CAFile, CertFile: cert.Cert, KeyFile: cert.Key,
		},
		QPS: 50, Burst: 100,
	}
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that nothing listens on now.
func freePorts(n int) ([]int, error) {
	// Hold every listener until all ports are chosen, so none repeats.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// FreePorts returns n free TCP ports of the host's loopback, for tests
// that run servers in the node's network.
func FreePorts(n int) ([]int, error) { return freePorts(n) }
