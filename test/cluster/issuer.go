// Package cluster fakes the parts of a Kubernetes cluster that identity tests
// need: the service-account token issuer (an OIDC issuer with an RSA key that
// signs projected service-account tokens) and the JSON the Secrets Store CSI
// driver hands to providers in the csi.storage.k8s.io/serviceAccount.tokens
// attribute.
package cluster

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// Paths under the issuer URL at which Handler serves discovery documents, as
// kube-apiserver does.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/openid/v1/jwks"
)

// Issuer signs service-account tokens the way kube-apiserver does: RS256,
// with a kid derived from the public key.
type Issuer struct {
	url    string
	key    *rsa.PrivateKey
	kid    string
	signer jose.Signer
}

// NewIssuer creates an issuer identified by issuerURL, used verbatim as the
// `iss` claim (AKS issuer URLs end in a slash), with a fresh 2048-bit RSA key.
func NewIssuer(issuerURL string) (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("cluster: generate issuer key: %w", err)
	}
	return NewIssuerFromKey(issuerURL, key)
}

// NewIssuerFromKey creates an issuer identified by issuerURL that signs and
// verifies with key: the service-account signing key of a real
// kube-apiserver, whose tokens the issuer then verifies (same kid, same key).
func NewIssuerFromKey(issuerURL string, key *rsa.PrivateKey) (*Issuer, error) {
	u, err := url.Parse(issuerURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("cluster: issuer URL %q must be absolute", issuerURL)
	}
	if key == nil {
		return nil, errors.New("cluster: no issuer key")
	}
	kid, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: create signer: %w", err)
	}
	return &Issuer{url: issuerURL, key: key, kid: kid, signer: signer}, nil
}

// keyID computes the kid kube-apiserver uses: the unpadded base64url SHA-256
// of the DER encoded public key.
func keyID(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("cluster: marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// URL returns the issuer URL (the `iss` claim of every token).
func (i *Issuer) URL() string { return i.url }

// KeyID returns the kid placed in token headers and the JWKS.
func (i *Issuer) KeyID() string { return i.kid }

// PublicKey returns the key that verifies this issuer's tokens.
func (i *Issuer) PublicKey() crypto.PublicKey { return &i.key.PublicKey }

// PublicKeyPEM returns the verification key as a PEM "PUBLIC KEY" block, the
// form Vault's JWT and Kubernetes auth methods accept in their config.
func (i *Issuer) PublicKeyPEM() string {
	der, err := x509.MarshalPKIXPublicKey(&i.key.PublicKey)
	if err != nil {
		// An RSA public key we generated always marshals.
		panic(fmt.Sprintf("cluster: marshal public key: %v", err))
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// JWKS returns the JSON Web Key Set served at /openid/v1/jwks.
func (i *Issuer) JWKS() []byte {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &i.key.PublicKey, KeyID: i.kid, Algorithm: string(jose.RS256), Use: "sig",
	}}}
	out, err := json.Marshal(set)
	if err != nil {
		panic(fmt.Sprintf("cluster: marshal JWKS: %v", err))
	}
	return out
}

// TokenRequest describes a projected service-account token.
type TokenRequest struct {
	Namespace      string
	ServiceAccount string
	Audiences      []string
	PodName        string // optional: binds the token to a pod
	PodUID         string // optional; derived from the pod name when empty
	NodeName       string // optional: adds kubernetes.io.node like Kubernetes 1.30+
	TTL            time.Duration
	IssuedAt       time.Time // zero means now; set in the past for expired tokens
}

// ServiceAccountToken returns an RS256 JWT shaped like a projected
// service-account token for one audience, bound to the given pod.
func (i *Issuer) ServiceAccountToken(namespace, serviceAccount, audience string, podName, podUID string, ttl time.Duration) (string, error) {
	return i.Token(TokenRequest{
		Namespace: namespace, ServiceAccount: serviceAccount, Audiences: []string{audience},
		PodName: podName, PodUID: podUID, TTL: ttl,
	})
}

// Token signs a service-account token described by req.
func (i *Issuer) Token(req TokenRequest) (string, error) {
	if req.Namespace == "" || req.ServiceAccount == "" {
		return "", errors.New("cluster: namespace and service account are required")
	}
	if len(req.Audiences) == 0 || req.Audiences[0] == "" {
		return "", errors.New("cluster: at least one audience is required")
	}
	if req.TTL <= 0 {
		return "", fmt.Errorf("cluster: TTL must be positive, got %v", req.TTL)
	}
	now := req.IssuedAt
	if now.IsZero() {
		now = time.Now()
	}
	k8s := map[string]any{
		"namespace":      req.Namespace,
		"serviceaccount": ref(req.ServiceAccount, StableUID("serviceaccount", req.Namespace, req.ServiceAccount)),
	}
	if req.PodName != "" {
		podUID := req.PodUID
		if podUID == "" {
			podUID = StableUID("pod", req.Namespace, req.PodName)
		}
		k8s["pod"] = ref(req.PodName, podUID)
	}
	if req.NodeName != "" {
		k8s["node"] = ref(req.NodeName, StableUID("node", "", req.NodeName))
	}
	claims := map[string]any{
		"iss":           i.url,
		"sub":           fmt.Sprintf("system:serviceaccount:%s:%s", req.Namespace, req.ServiceAccount),
		"aud":           req.Audiences, // always an array, as kube-apiserver emits it
		"iat":           now.Unix(),
		"nbf":           now.Unix(),
		"exp":           now.Add(req.TTL).Unix(),
		"jti":           uuid.NewString(),
		"kubernetes.io": k8s,
	}
	return i.SignClaims(claims)
}

// SignClaims signs arbitrary claims with the issuer key, for negative tests
// that need malformed service-account tokens.
func (i *Issuer) SignClaims(claims map[string]any) (string, error) {
	tok, err := jwt.Signed(i.signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("cluster: sign token: %w", err)
	}
	return tok, nil
}

func ref(name, uid string) map[string]string {
	return map[string]string{"name": name, "uid": uid}
}

// StableUID returns a deterministic UID for a Kubernetes object so that tests
// can predict the uid claims of the tokens they mint.
func StableUID(kind, namespace, name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("k8s://"+kind+"/"+namespace+"/"+name)).String()
}

// Handler serves the issuer's OIDC discovery document and JWKS at the paths
// kube-apiserver uses, relative to the issuer URL's path, so that Vault's JWT
// auth method can be pointed at it with oidc_discovery_url.
func (i *Issuer) Handler() http.Handler {
	u, _ := url.Parse(i.url) // validated in NewIssuer
	base := strings.TrimSuffix(u.Path, "/")
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+DiscoveryPath, func(w http.ResponseWriter, _ *http.Request) {
		doc := map[string]any{
			"issuer":                                i.url,
			"jwks_uri":                              strings.TrimSuffix(i.url, "/") + JWKSPath,
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	})
	mux.HandleFunc("GET "+base+JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(i.JWKS())
	})
	return mux
}

// driverToken is one entry of the serviceAccount.tokens attribute, matching
// the driver's (and kubelet's) JSON field names.
type driverToken struct {
	Token               string `json:"token"`
	ExpirationTimestamp string `json:"expirationTimestamp"`
}

// DriverTokensAttribute builds the value of the mount attribute
// csi.storage.k8s.io/serviceAccount.tokens: a JSON object mapping each
// audience to {"token":..., "expirationTimestamp": RFC 3339 UTC}.
func DriverTokensAttribute(tokens map[string]string, exp time.Time) string {
	out := make(map[string]driverToken, len(tokens))
	for aud, tok := range tokens {
		out[aud] = driverToken{Token: tok, ExpirationTimestamp: exp.UTC().Format(time.RFC3339)}
	}
	data, err := json.Marshal(out)
	if err != nil {
		panic(fmt.Sprintf("cluster: marshal tokens attribute: %v", err))
	}
	return string(data)
}
