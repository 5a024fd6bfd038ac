// Package driver plays the Secrets Store CSI Driver's side of the provider
// protocol: it sends the MountRequest the driver sends, interprets the answer
// as the driver's MountContent does, writes the files with the driver's own
// atomic writer, and computes what secretObjects sync would store.
package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/secrets-store-csi-driver/pkg/util/fileutil"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// Client talks to one provider socket, as the driver's PluginClientBuilder does.
type Client struct {
	conn *grpc.ClientConn
	rpc  v1alpha1.CSIDriverProviderClient
}

// DefaultMaxRecvMsgSize is the driver's default --max-call-recv-msg-size:
// it refuses larger answers from providers.
const DefaultMaxRecvMsgSize = 4 << 20

// Dial connects to the provider's unix socket with the driver's default
// limit on the size of answers.
func Dial(socket string) (*Client, error) { return DialLimit(socket, DefaultMaxRecvMsgSize) }

// DialLimit is Dial for a driver started with --max-call-recv-msg-size=maxRecv.
func DialLimit(socket string, maxRecv int) (*Client, error) {
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecv)))
	if err != nil {
		return nil, fmt.Errorf("dialing provider socket %s: %w", socket, err)
	}
	return &Client{conn: conn, rpc: v1alpha1.NewCSIDriverProviderClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Version calls Version as the driver's health check does.
func (c *Client) Version(ctx context.Context) (*v1alpha1.VersionResponse, error) {
	return c.rpc.Version(ctx, &v1alpha1.VersionRequest{Version: "v1alpha1"})
}

// Pod is what the kubelet tells the driver about the pod.
type Pod struct {
	Name, Namespace, UID, ServiceAccount string
}

// Volume is one CSI volume mount of a pod with a SecretProviderClass.
type Volume struct {
	SPC        *SecretProviderClass
	Pod        Pod
	Tokens     map[string]string // audience → token, as requested by CSIDriver tokenRequests
	TokenExp   string            // RFC3339 expiry reported with the tokens
	TargetPath string
	Permission os.FileMode // default 0644
	Secrets    map[string]string
}

// Attributes builds the attributes JSON the driver sends: the SPC parameters,
// the kubelet's pod attributes and the service-account tokens.
func (v *Volume) Attributes() (string, error) {
	attrs := map[string]string{}
	for k, val := range v.SPC.Spec.Parameters {
		attrs[k] = val
	}
	attrs["secretProviderClass"] = v.SPC.Metadata.Name
	attrs["csi.storage.k8s.io/pod.name"] = v.Pod.Name
	attrs["csi.storage.k8s.io/pod.namespace"] = v.Pod.Namespace
	attrs["csi.storage.k8s.io/pod.uid"] = v.Pod.UID
	attrs["csi.storage.k8s.io/serviceAccount.name"] = v.Pod.ServiceAccount
	attrs["csi.storage.k8s.io/ephemeral"] = "false"
	if len(v.Tokens) > 0 {
		toks := map[string]map[string]string{}
		for aud, t := range v.Tokens {
			toks[aud] = map[string]string{"token": t, "expirationTimestamp": v.TokenExp}
		}
		b, err := json.Marshal(toks)
		if err != nil {
			return "", err
		}
		attrs["csi.storage.k8s.io/serviceAccount.tokens"] = string(b)
	}
	b, err := json.Marshal(attrs)
	return string(b), err
}

// ErrMissingObjectVersions is the driver's complaint about a response
// without object versions.
var ErrMissingObjectVersions = errors.New("missing object versions")

// Request builds the MountRequest the driver sends for v; current are the
// object versions from the last mount (rotation).
func (v *Volume) Request(current map[string]string) (*v1alpha1.MountRequest, error) {
	attrs, err := v.Attributes()
	if err != nil {
		return nil, err
	}
	secrets, err := json.Marshal(orEmpty(v.Secrets))
	if err != nil {
		return nil, err
	}
	perm := v.Permission
	if perm == 0 {
		perm = 0o644
	}
	req := &v1alpha1.MountRequest{
		Attributes: attrs, Secrets: string(secrets), TargetPath: v.TargetPath,
		Permission: strconv.FormatUint(uint64(perm), 10),
	}
	for id, ver := range current {
		req.CurrentObjectVersion = append(req.CurrentObjectVersion, &v1alpha1.ObjectVersion{Id: id, Version: ver})
	}
	return req, nil
}

// Send calls Mount with req and interprets the answer as the driver's
// MountContent does, without writing files: it returns the response and the
// object versions the driver would record.
func (c *Client) Send(ctx context.Context, req *v1alpha1.MountRequest) (*v1alpha1.MountResponse, map[string]string, error) {
	resp, err := c.rpc.Mount(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	if resp.GetError() != nil && resp.GetError().Code != "" {
		return nil, nil, fmt.Errorf("mount request failed with provider error code %s", resp.GetError().Code)
	}
	if resp.GetObjectVersion() == nil {
		return nil, nil, ErrMissingObjectVersions
	}
	versions := map[string]string{}
	for _, ov := range resp.GetObjectVersion() {
		versions[ov.Id] = ov.Version
	}
	return resp, versions, nil
}

// Mount sends the MountRequest and, on success, writes the files into
// v.TargetPath with the driver's atomic writer. It returns the object
// versions the driver would record. current are the versions from the last
// mount (rotation).
func (c *Client) Mount(ctx context.Context, v *Volume, current map[string]string) (map[string]string, error) {
	req, err := v.Request(current)
	if err != nil {
		return nil, err
	}
	resp, versions, err := c.Send(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(resp.GetFiles()) > 0 {
		if err := fileutil.WritePayloads(v.TargetPath, resp.GetFiles()); err != nil {
			return nil, fmt.Errorf("writing files: %w", err)
		}
	}
	return versions, nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
