// Package syncctl plays the Secrets Store Sync Controller's side of the
// provider protocol (kubernetes-sigs/secrets-store-sync-controller, which
// the Go module proxy does not serve): for a SecretSync it builds the
// MountRequest the controller builds — the class's parameters, the
// SecretSync's namespace and service account, the controller's own pod
// name and UID, 600-second service-account tokens with one audience each
// (the controller's --token-request-audience, cluster-wide), Secrets "{}",
// permission 0644, the fixed target path and no object versions — and
// turns the answer into Secret data as the controller does: an error code
// fails the sync, an answer without object versions too, files are taken
// by path and each SecretSync data entry names one.
package syncctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
)

// TargetPath is the path the controller sends; nothing may be written there.
const TargetPath = "/mnt/secrets-store"

// TokenTTL is the life of the tokens the controller requests.
const TokenTTL = 600 * time.Second

// TokenSource mints a service-account token for namespace/serviceAccount
// and one audience, valid for ttl, as the TokenRequest API does for the
// controller (bound to its node, not to a pod).
type TokenSource func(namespace, serviceAccount, audience string, ttl time.Duration) (string, error)

// Controller is one sync controller pod and its provider connection.
type Controller struct {
	// PodName and PodUID are the controller's own (its downward API): the
	// same in every request, whatever the SecretSync.
	PodName, PodUID string
	// Audiences are the controller's --token-request-audience.
	Audiences []string
	Tokens    TokenSource

	conn *grpc.ClientConn
	rpc  v1alpha1.CSIDriverProviderClient

	mu    sync.Mutex
	cache map[string]cachedToken // as the controller's token manager: reused until 80% of the TTL
}

type cachedToken struct {
	token   string
	issued  time.Time
	expires time.Time
}

// Dial connects a controller to the provider socket with the controller's
// default receive limit (4 MiB).
func Dial(socket string, c *Controller) (*Controller, error) {
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(4<<20)))
	if err != nil {
		return nil, fmt.Errorf("dialing provider socket %s: %w", socket, err)
	}
	c.conn, c.rpc, c.cache = conn, v1alpha1.NewCSIDriverProviderClient(conn), map[string]cachedToken{}
	return c, nil
}

// Close closes the connection.
func (c *Controller) Close() error { return c.conn.Close() }

// DataRef maps a file of the provider's answer to a key of the Secret.
type DataRef struct{ SourcePath, TargetKey string }

// SecretSync is the part of a secret-sync.x-k8s.io/v1alpha1 SecretSync
// that reaches the provider, and its data mapping.
type SecretSync struct {
	Namespace, Name    string
	ServiceAccountName string
	Class              *driver.SecretProviderClass
	Data               []DataRef
}

// Request builds the MountRequest the controller sends for ss.
func (c *Controller) Request(ss *SecretSync) (*v1alpha1.MountRequest, error) {
	params := maps.Clone(ss.Class.Spec.Parameters)
	if params == nil {
		params = map[string]string{}
	}
	params["csi.storage.k8s.io/pod.name"] = c.PodName
	params["csi.storage.k8s.io/pod.uid"] = c.PodUID
	params["csi.storage.k8s.io/pod.namespace"] = ss.Namespace
	params["csi.storage.k8s.io/serviceAccount.name"] = ss.ServiceAccountName
	if len(c.Audiences) > 0 {
		toks, err := c.tokensAttr(ss.Namespace, ss.ServiceAccountName)
		if err != nil {
			return nil, err
		}
		params["csi.storage.k8s.io/serviceAccount.tokens"] = toks
	}
	attrs, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	perm, err := json.Marshal(os.FileMode(0o644))
	if err != nil {
		return nil, err
	}
	return &v1alpha1.MountRequest{Attributes: string(attrs), Secrets: "{}", Permission: string(perm), TargetPath: TargetPath}, nil
}

func (c *Controller) tokensAttr(ns, sa string) (string, error) {
	type status struct {
		Token               string    `json:"token"`
		ExpirationTimestamp time.Time `json:"expirationTimestamp"`
	}
	out := map[string]status{}
	for _, aud := range c.Audiences {
		t, err := c.token(ns, sa, aud)
		if err != nil {
			return "", err
		}
		out[aud] = status{Token: t.token, ExpirationTimestamp: t.expires.UTC().Truncate(time.Second)}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func (c *Controller) token(ns, sa, aud string) (cachedToken, error) {
	key := ns + "/" + sa + "/" + aud
	now := time.Now()
	c.mu.Lock()
	t, ok := c.cache[key]
	c.mu.Unlock()
	if ok && now.Before(t.issued.Add(TokenTTL*8/10)) {
		return t, nil
	}
	tok, err := c.Tokens(ns, sa, aud, TokenTTL)
	if err != nil {
		return cachedToken{}, fmt.Errorf("requesting a token for %s/%s audience %s: %w", ns, sa, aud, err)
	}
	t = cachedToken{token: tok, issued: now, expires: now.Add(TokenTTL)}
	c.mu.Lock()
	c.cache[key] = t
	c.mu.Unlock()
	return t, nil
}

// ErrMissingObjectVersions is the controller's complaint about an answer
// without object versions.
var ErrMissingObjectVersions = errors.New("missing object versions")

// Result is one sync: the Secret's data, the object versions and the
// files of the answer.
type Result struct {
	Data     map[string][]byte
	Versions map[string]string
	Files    map[string][]byte
}

// Sync calls Mount for ss and builds the Secret's data, as one
// reconcile of the controller does.
func (c *Controller) Sync(ctx context.Context, ss *SecretSync) (*Result, error) {
	req, err := c.Request(ss)
	if err != nil {
		return nil, err
	}
	resp, err := c.rpc.Mount(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.GetError() != nil && resp.GetError().Code != "" {
		return nil, fmt.Errorf("mount request failed with provider error code %s", resp.GetError().Code)
	}
	if resp.GetObjectVersion() == nil {
		return nil, ErrMissingObjectVersions
	}
	res := &Result{Data: map[string][]byte{}, Versions: map[string]string{}, Files: map[string][]byte{}}
	for _, v := range resp.GetObjectVersion() {
		res.Versions[v.Id] = v.Version
	}
	for _, f := range resp.GetFiles() {
		res.Files[f.GetPath()] = f.GetContents()
	}
	for _, d := range ss.Data {
		b, ok := res.Files[d.SourcePath]
		if !ok {
			return nil, fmt.Errorf("file matching source path %s not found in the provider's answer", d.SourcePath)
		}
		res.Data[d.TargetKey] = b
	}
	return res, nil
}
