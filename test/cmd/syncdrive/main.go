// Command syncdrive is the Secrets Store Sync Controller's side in the
// real-node tests: in a pod beside the provider's container (as rendered by
// the chart's syncController values), it requests real service-account
// tokens from the apiserver's TokenRequest API (600 s, one audience each,
// bound to its node, as the controller does), sends each SecretSync's
// MountRequest as the controller does (test/syncctl) and prints every
// result as one JSON line on standard output, polling a few times.
//
//	syncdrive -socket /provider/vault-azure.sock -polls 3 -interval 2s \
//	  -sync '{"namespace":"t-ssc","name":"db","serviceAccount":"web","parameters":{...},"data":{"password":"db-password"}}'
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/syncctl"
)

// Sync is one SecretSync to drive.
type Sync struct {
	Namespace      string            `json:"namespace"`
	Name           string            `json:"name"`
	ServiceAccount string            `json:"serviceAccount"`
	Parameters     map[string]string `json:"parameters"`
	Data           map[string]string `json:"data"` // target key → source path
}

// Line is one sync's result.
type Line struct {
	Poll     int               `json:"poll"`
	Name     string            `json:"name"`
	Data     map[string]string `json:"data,omitempty"`
	Versions map[string]string `json:"versions,omitempty"`
	Code     string            `json:"code,omitempty"`
	Error    string            `json:"error,omitempty"`
}

type syncs []Sync

func (s *syncs) String() string { return fmt.Sprint(*s) }
func (s *syncs) Set(v string) error {
	var one Sync
	if err := json.Unmarshal([]byte(v), &one); err != nil {
		return err
	}
	*s = append(*s, one)
	return nil
}

func main() {
	var all syncs
	socket := flag.String("socket", "/provider/vault-azure.sock", "the provider's socket")
	audiences := flag.String("audiences", "api://AzureADTokenExchange,vault", "the controller's --token-request-audience")
	polls := flag.Int("polls", 3, "how many times to sync each")
	interval := flag.Duration("interval", 2*time.Second, "time between polls")
	flag.Var(&all, "sync", "a SecretSync as JSON (repeatable)")
	apiserver := flag.String("apiserver", "https://"+os.Getenv("KUBERNETES_SERVICE_HOST")+":"+os.Getenv("KUBERNETES_SERVICE_PORT"), "the apiserver's URL")
	flag.Parse()
	api, err := newAPI(*apiserver, os.Getenv("NODE_NAME"))
	if err != nil {
		fail(err)
	}
	c, err := syncctl.Dial(*socket, &syncctl.Controller{
		PodName: os.Getenv("POD_NAME"), PodUID: os.Getenv("POD_UID"),
		Audiences: strings.Split(*audiences, ","), Tokens: api.token,
	})
	if err != nil {
		fail(err)
	}
	enc := json.NewEncoder(os.Stdout)
	for poll := range *polls {
		for _, s := range all {
			_ = enc.Encode(syncOnce(c, poll, s))
		}
		time.Sleep(*interval)
	}
	_ = enc.Encode(Line{Poll: -1, Name: "done"})
	select {} // the pod's log stays readable until the test deletes it
}

func syncOnce(c *syncctl.Controller, poll int, s Sync) Line {
	ss := &syncctl.SecretSync{Namespace: s.Namespace, Name: s.Name, ServiceAccountName: s.ServiceAccount, Class: &driver.SecretProviderClass{}}
	ss.Class.Spec.Parameters = s.Parameters
	for key, src := range s.Data {
		ss.Data = append(ss.Data, syncctl.DataRef{SourcePath: src, TargetKey: key})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	line := Line{Poll: poll, Name: s.Name}
	res, err := c.Sync(ctx, ss)
	if err != nil {
		line.Code, line.Error = status.Code(err).String(), err.Error()
		return line
	}
	line.Data, line.Versions = map[string]string{}, res.Versions
	for k, v := range res.Data {
		line.Data[k] = string(v)
	}
	return line
}

// api is the apiserver as the pod's own service account reaches it.
type api struct {
	client         *http.Client
	host, bearer   string
	nodeName, node string // the node's name and UID
}

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func newAPI(host, nodeName string) (*api, error) {
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(saDir + "/token")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	a := &api{client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		host: host, bearer: strings.TrimSpace(string(tok)), nodeName: nodeName}
	var node struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if err := a.call(http.MethodGet, "/api/v1/nodes/"+nodeName, nil, &node); err != nil {
		return nil, err
	}
	a.node = node.Metadata.UID
	return a, nil
}

// token requests a token of namespace/sa for audience, bound to the node.
func (a *api) token(ns, sa, audience string, ttl time.Duration) (string, error) {
	req := map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": map[string]any{
		"audiences": []string{audience}, "expirationSeconds": int64(ttl.Seconds()),
		"boundObjectRef": map[string]any{"apiVersion": "v1", "kind": "Node", "name": a.nodeName, "uid": a.node},
	}}
	var out struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	if err := a.call(http.MethodPost, "/api/v1/namespaces/"+ns+"/serviceaccounts/"+sa+"/token", req, &out); err != nil {
		return "", err
	}
	return out.Status.Token, nil
}

func (a *api) call(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.host+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "syncdrive:", err)
	_ = json.NewEncoder(os.Stdout).Encode(Line{Poll: -1, Name: "fatal", Error: err.Error()})
	os.Exit(1)
}
