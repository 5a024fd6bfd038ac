package azure

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

const imdsHost = "169.254.169.254"

// imdsRewriter sends requests for the fixed IMDS address to a configured
// endpoint instead (tests, or a node-local IMDS proxy). azidentity hard-codes
// the IMDS address, so this is the supported way to move it.
type imdsRewriter struct {
	target *url.URL // nil: no rewriting
	base   http.RoundTripper
}

func newIMDSRewriter(endpoint string) (*imdsRewriter, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("IMDS endpoint %q: %w", endpoint, err)
	}
	r := &imdsRewriter{base: http.DefaultTransport.(*http.Transport).Clone()}
	if u.Host != imdsHost {
		r.target = u
	}
	return r, nil
}

func (r *imdsRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.target != nil && req.URL.Host == imdsHost {
		req = req.Clone(req.Context())
		req.URL.Scheme = r.target.Scheme
		req.URL.Host = r.target.Host
		req.Host = r.target.Host
	}
	return r.base.RoundTrip(req)
}

// endpointKind names the identity endpoint a request is for.
func endpointKind(req *http.Request) string {
	switch p := req.URL.Path; {
	case strings.HasPrefix(p, "/metadata/identity/"):
		return "imds"
	case strings.HasPrefix(p, "/metadata/instance"):
		return "imds_instance"
	case strings.HasPrefix(p, "/host/token"):
		return "nmi"
	default:
		return "entra"
	}
}
