package azureemu

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t-style key ids, not a security use
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// Token lifetimes and clock skew allowance modelled on Entra ID, which back-dates
// iat/nbf by five minutes.
const (
	defaultTTL   = time.Hour
	imdsTTL      = 24 * time.Hour
	backdateSkew = 5 * time.Minute
)

// armAudiences are the audiences Resource Manager accepts.
var armAudiences = []string{
	"https://management.azure.com/", "https://management.azure.com",
	"https://management.core.windows.net/", "https://management.core.windows.net",
}

// signingKeys holds the tenant's token signing key and a foreign key that
// claims the same kid (for negative tests).
type signingKeys struct {
	key, foreign *rsa.PrivateKey
	kid          string
}

func newSigningKeys() (signingKeys, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKeys{}, fmt.Errorf("azureemu: generate signing key: %w", err)
	}
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKeys{}, fmt.Errorf("azureemu: generate foreign key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return signingKeys{}, fmt.Errorf("azureemu: marshal signing key: %w", err)
	}
	sum := sha1.Sum(der) //nolint:gosec // identifier only
	return signingKeys{key: key, foreign: foreign, kid: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

// jwks returns the JSON Web Key Set Entra publishes (RSA, use "sig", kid and x5t).
func (k signingKeys) jwks(issuer string) []byte {
	jwk := jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Use: "sig"}
	raw, err := jwk.MarshalJSON()
	if err != nil {
		panic(fmt.Sprintf("azureemu: marshal JWK: %v", err))
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(fmt.Sprintf("azureemu: re-read JWK: %v", err))
	}
	m["x5t"] = k.kid
	m["issuer"] = issuer
	out, err := json.Marshal(map[string]any{"keys": []any{m}})
	if err != nil {
		panic(fmt.Sprintf("azureemu: marshal JWKS: %v", err))
	}
	return out
}

// TokenOptions describes an access token for MintAccessToken.
type TokenOptions struct {
	Identity Identity
	Audience string        // aud, verbatim
	Issuer   string        // default "https://sts.windows.net/<tenant>/"; a v2 issuer switches to v2 claims
	TTL      time.Duration // default one hour
	// SignWithForeignKey signs with a key that is not in the JWKS but claims
	// the published kid.
	SignWithForeignKey bool
	// NotBefore sets nbf (and iat); default five minutes ago, as Entra does.
	NotBefore time.Time
	// AzureResourceID sets xms_az_rid (the compute resource of a user-assigned
	// managed identity token from IMDS).
	AzureResourceID string
	// Extra claims override or extend the minted ones.
	Extra map[string]any
}

// MintAccessToken signs an access token directly, bypassing every endpoint.
func (e *Emulator) MintAccessToken(opts TokenOptions) (string, error) {
	tok, _, err := e.mint(opts, "2")
	return tok, err
}

// minted describes a token for the response bodies that carry its times.
type minted struct {
	expiresIn int64
	expiresOn time.Time
	notBefore time.Time
}

// mint signs a token. appidacr is "1" for client secrets, "2" for
// certificates/assertions and managed identities.
func (e *Emulator) mint(opts TokenOptions, appidacr string) (string, minted, error) {
	if opts.Audience == "" || opts.Identity.ClientID == "" {
		return "", minted{}, errors.New("azureemu: token needs an audience and an identity client id")
	}
	now := time.Now()
	nbf := opts.NotBefore
	if nbf.IsZero() {
		nbf = now.Add(-backdateSkew)
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = defaultTTL
	}
	exp := now.Add(ttl)
	claims := e.baseClaims(opts, appidacr)
	claims["iat"], claims["nbf"], claims["exp"] = nbf.Unix(), nbf.Unix(), exp.Unix()
	for k, v := range opts.Extra {
		claims[k] = v
	}
	key := e.keys.key
	if opts.SignWithForeignKey {
		key = e.keys.foreign
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: e.keys.kid}},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t", e.keys.kid),
	)
	if err != nil {
		return "", minted{}, fmt.Errorf("azureemu: create signer: %w", err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", minted{}, fmt.Errorf("azureemu: sign token: %w", err)
	}
	return tok, minted{expiresIn: int64(ttl / time.Second), expiresOn: exp, notBefore: nbf}, nil
}

func (e *Emulator) baseClaims(opts TokenOptions, appidacr string) map[string]any {
	v1Issuer := e.v1Issuer()
	iss := opts.Issuer
	if iss == "" {
		iss = v1Issuer
	}
	id := opts.Identity
	claims := map[string]any{
		"aud": opts.Audience, "iss": iss, "tid": e.tenant,
		"oid": id.ObjectID, "sub": id.ObjectID, "idtyp": "app",
		"aio": randomID(), "uti": randomID(), "rh": "0.emulated",
	}
	if strings.HasSuffix(iss, "/v2.0") {
		claims["ver"], claims["azp"], claims["azpacr"] = "2.0", id.ClientID, appidacr
	} else {
		claims["ver"], claims["appid"], claims["appidacr"] = "1.0", id.ClientID, appidacr
		claims["idp"] = v1Issuer
	}
	// Entra puts the resource ids of a managed identity (and of the compute
	// resource it is attached to) only into tokens for first-party
	// resources; an app's own audience (api://…) gets neither.
	if firstParty(opts.Audience) {
		if id.ResourceID != "" {
			claims["xms_mirid"] = id.ResourceID
		}
		if opts.AzureResourceID != "" {
			claims["xms_az_rid"] = opts.AzureResourceID
		}
	}
	return claims
}

// firstPartyHosts are Microsoft resources whose tokens carry xms_mirid.
var firstPartyHosts = []string{"management.azure.com", "management.core.windows.net", "vault.azure.net", "storage.azure.com", "graph.microsoft.com", "database.windows.net"}

func firstParty(audience string) bool {
	host, ok := strings.CutPrefix(audience, "https://")
	if !ok {
		return false
	}
	host, _, _ = strings.Cut(host, "/")
	for _, h := range firstPartyHosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}

func (e *Emulator) v1Issuer() string { return "https://sts.windows.net/" + e.tenant + "/" }

func (e *Emulator) v2Issuer() string {
	return "https://" + EntraHost + "/" + e.tenant + "/v2.0"
}

func randomID() string {
	return base64.RawURLEncoding.EncodeToString([]byte(uuid.NewString()))[:22]
}

// accessClaims are the claims ARM checks on a bearer token.
type accessClaims struct {
	jwt.Claims
	TenantID string `json:"tid"`
}

// verifyAccessToken checks a bearer token the way Resource Manager does:
// signature by the tenant key, v1 issuer, time window and an ARM audience.
// It returns an ARM error code and message on failure.
func (e *Emulator) verifyAccessToken(raw string) (code, msg string, ok bool) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "InvalidAuthenticationToken", "The access token is invalid.", false
	}
	var c accessClaims
	if err := tok.Claims(&e.keys.key.PublicKey, &c); err != nil {
		return "InvalidAuthenticationToken", "The access token has an invalid signature.", false
	}
	if c.Issuer != e.v1Issuer() && c.Issuer != e.v2Issuer() {
		return "InvalidAuthenticationTokenTenant", fmt.Sprintf("The access token is from the wrong issuer '%s'.", c.Issuer), false
	}
	now := time.Now()
	if c.Expiry == nil || now.After(c.Expiry.Time()) {
		return "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.", false
	}
	if c.NotBefore != nil && now.Before(c.NotBefore.Time()) {
		return "InvalidAuthenticationToken", "The access token is not yet valid.", false
	}
	for _, aud := range armAudiences {
		if c.Audience.Contains(aud) {
			return "", "", true
		}
	}
	return "InvalidAuthenticationTokenAudience", fmt.Sprintf(
		"The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences '%s'.",
		strings.Join(c.Audience, ","), strings.Join(armAudiences, "','")), false
}
