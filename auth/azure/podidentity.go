package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// nmiResponse is the answer of aad-pod-identity's NMI /host/token/ endpoint.
type nmiResponse struct {
	Token struct {
		AccessToken string `json:"access_token"`
	} `json:"token"`
	ClientID string `json:"clientid"`
}

// podIdentityToken asks the node's NMI (aad-pod-identity) for a token of the
// identity bound to the pod, naming the pod in the podname/podns headers.
func (m *Method) podIdentityToken(ctx context.Context, req *auth.Request) (string, error) {
	u, err := url.Parse(m.cfg.NMIEndpoint)
	if err != nil {
		return "", configError(fmt.Sprintf("NMI endpoint %q: %v", m.cfg.NMIEndpoint, err))
	}
	q := u.Query()
	q.Set("resource", paramsOf(req).Resource)
	if paramsOf(req).ClientID != "" {
		q.Set("clientid", paramsOf(req).ClientID)
	}
	u.RawQuery = q.Encode()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", configError(fmt.Sprintf("building the NMI request: %v", err))
	}
	hreq.Header.Set("podname", req.Pod.Name)
	hreq.Header.Set("podns", req.Pod.Namespace)
	resp, err := m.httpClient.Do(hreq)
	if err != nil {
		return "", &auth.Error{Kind: auth.KindUnavailable, Err: fmt.Errorf(
			"asking aad-pod-identity NMI at %s for pod %s/%s: %w (is aad-pod-identity installed on this node?)", u.Host, req.Pod.Namespace, req.Pod.Name, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", credentialError(fmt.Errorf("aad-pod-identity NMI refused pod %s/%s (HTTP %d: %s): check the AzureIdentityBinding for the pod's aadpodidbinding label",
			req.Pod.Namespace, req.Pod.Name, resp.StatusCode, strings.TrimSpace(truncate(string(body), 300))))
	}
	var nr nmiResponse
	if err := json.Unmarshal(body, &nr); err != nil || nr.Token.AccessToken == "" {
		return "", credentialError(fmt.Errorf("aad-pod-identity NMI answered pod %s/%s without an access token", req.Pod.Namespace, req.Pod.Name))
	}
	return nr.Token.AccessToken, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
