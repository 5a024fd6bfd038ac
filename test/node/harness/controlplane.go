package harness

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// makePKI creates the CA, the certificates of every component and the
// service-account signing key.
func (c *Cluster) makePKI() error {
	p, err := newPKI(filepath.Join(c.Dir, "pki"))
	if err != nil {
		return err
	}
	c.pki = p
	if c.admin, err = p.issue("admin", "admin", []string{"system:masters"}); err != nil {
		return err
	}
	c.saKeyFile, c.saPubFile, err = p.serviceAccountKey()
	return err
}

func (c *Cluster) startEtcd() error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	client, peer := "http://"+hostPort(ports[0]), "http://"+hostPort(ports[1])
	p, err := c.startProc("etcd", c.bin("etcd"), []string{
		"--name=node", "--data-dir=" + c.path("etcd", "data"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=node=" + peer, "--initial-cluster-state=new",
		"--log-level=warn", "--quota-backend-bytes=1073741824",
	}, nil)
	if err != nil {
		return err
	}
	c.etcdURL = client
	return waitProc(p, 30*time.Second, "etcd health", func() (bool, error) {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

func (c *Cluster) startAPIServer() error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	c.APIServerURL = "https://" + hostPort(ports[0])
	serving, err := c.pki.issue("apiserver", "kube-apiserver", nil,
		"127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "10.0.0.1")
	if err != nil {
		return err
	}
	kubeletClient, err := c.pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"})
	if err != nil {
		return err
	}
	p, err := c.startProc("kube-apiserver", c.bin("kube-apiserver"), []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(ports[0]),
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + c.path("apiserver", "certs"),
		"--tls-cert-file=" + serving.Cert, "--tls-private-key-file=" + serving.Key,
		"--client-ca-file=" + c.pki.CAFile,
		"--kubelet-client-certificate=" + kubeletClient.Cert, "--kubelet-client-key=" + kubeletClient.Key,
		"--kubelet-certificate-authority=" + c.pki.CAFile,
		"--service-account-issuer=" + c.World.Info.IssuerURL,
		"--service-account-key-file=" + c.saPubFile,
		"--service-account-signing-key-file=" + c.saKeyFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		// TaintNodesByCondition would taint the new node not-ready, and only
		// the node lifecycle controller lifts that taint once the node is
		// Ready: without CNI it never is, though host-network pods run.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=1",
	}, nil)
	if err != nil {
		return err
	}
	c.Admin = c.restConfig(c.admin)
	if c.Client, err = kubernetes.NewForConfig(c.Admin); err != nil {
		return err
	}
	if c.Dynamic, err = dynamic.NewForConfig(c.Admin); err != nil {
		return err
	}
	return waitProc(p, 60*time.Second, "kube-apiserver /readyz", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return false, fmt.Errorf("%v: %s", err, body)
		}
		return string(body) == "ok", nil
	})
}

// startControllers runs kube-controller-manager (the controllers this
// world needs: garbage collector, namespaces, service accounts, root CA
// config maps, DaemonSets, Deployments, ReplicaSets; each with its own
// service account and bootstrap RBAC role) and kube-scheduler.
func (c *Cluster) startControllers() error {
	kcmCert, err := c.pki.issue("controller-manager", "system:kube-controller-manager", nil)
	if err != nil {
		return err
	}
	kcmConfig, err := c.writeKubeconfig("controller-manager", &kcmCert, "")
	if err != nil {
		return err
	}
	if _, err := c.startProc("kube-controller-manager", c.bin("kube-controller-manager"), []string{
		"--kubeconfig=" + kcmConfig,
		"--controllers=garbagecollector,namespace,serviceaccount,root-ca-cert-publisher,daemonset,deployment,replicaset",
		"--root-ca-file=" + c.pki.CAFile,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
		"--use-service-account-credentials=true",
		"--concurrent-gc-syncs=5",
		"--v=1",
	}, nil); err != nil {
		return err
	}
	schedCert, err := c.pki.issue("scheduler", "system:kube-scheduler", nil)
	if err != nil {
		return err
	}
	schedConfig, err := c.writeKubeconfig("scheduler", &schedCert, "")
	if err != nil {
		return err
	}
	_, err = c.startProc("kube-scheduler", c.bin("kube-scheduler"), []string{
		"--kubeconfig=" + schedConfig,
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
		"--v=1",
	}, nil)
	return err
}

// APIServerRequests sums the apiserver's apiserver_request_total counters
// whose labels contain every one of labels (e.g. `resource="tokenreviews"`).
func (c *Cluster) APIServerRequests(ctx context.Context, labels ...string) (float64, error) {
	body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	var sum float64
lines:
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		sum += v
	}
	return sum, nil
}
