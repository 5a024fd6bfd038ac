package azureemu

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

const (
	// assertionType is the client_assertion_type for JWT client assertions.
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// TokenExchangeAudience is the audience Entra requires of federated
	// (workload identity) assertions.
	TokenExchangeAudience = "api://AzureADTokenExchange"
)

// entraErr is an error in Microsoft Entra ID's token endpoint shape.
type entraErr struct {
	status int
	code   string // OAuth error, e.g. invalid_client
	aadsts int    // AADSTS number
	desc   string
}

func (ee *entraErr) write(w http.ResponseWriter) {
	entraError(w, ee.status, ee.code, ee.aadsts, ee.desc)
}

// entraError writes {error, error_description "AADSTSnnn: ...", error_codes,
// timestamp, trace_id, correlation_id, error_uri} like Entra ID.
func entraError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	ts := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	trace, corr := uuid.NewString(), uuid.NewString()
	writeJSON(w, status, map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, desc, trace, corr, ts),
		"error_codes":    []int{aadsts},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      fmt.Sprintf("https://%s/error?code=%d", EntraHost, aadsts),
	})
}

// checkAssertion validates a federated client assertion for clientID as Entra
// does for workload identity: a federated credential must match the issuer,
// subject (case-sensitive) and audience; the signature must verify with the
// issuer's key; and the token must be within its validity window.
func (e *Emulator) checkAssertion(clientID, raw string) *entraErr {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return &entraErr{http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed."}
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return &entraErr{http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed."}
	}
	if ee := e.matchFederatedCredential(clientID, c); ee != nil {
		return ee
	}
	if e.cluster == nil || c.Issuer != e.cluster.URL() {
		return &entraErr{http.StatusUnauthorized, "invalid_client", 50166,
			"Request to External OIDC endpoint failed: no signing keys are known for issuer '" + c.Issuer + "'."}
	}
	if err := tok.Claims(e.cluster.PublicKey(), &c); err != nil {
		return &entraErr{http.StatusUnauthorized, "invalid_client", 5002738,
			"Invalid JWT token. The client assertion signature could not be validated with the keys of issuer '" + c.Issuer + "'."}
	}
	now := time.Now()
	if c.Expiry == nil || !now.Before(c.Expiry.Time()) || (c.NotBefore != nil && now.Before(c.NotBefore.Time())) {
		return &entraErr{http.StatusBadRequest, "invalid_client", 700024, fmt.Sprintf(
			"Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC3339), fmtNumericDate(c.NotBefore), fmtNumericDate(c.Expiry))}
	}
	return nil
}

// matchFederatedCredential finds a federated credential of clientID for the
// assertion's issuer, subject and audience, in Entra's order of checks.
func (e *Emulator) matchFederatedCredential(clientID string, c jwt.Claims) *entraErr {
	e.mu.RLock()
	creds := append([]fedCred(nil), e.feds[clientID]...)
	e.mu.RUnlock()
	var issuerMatch bool
	for _, fc := range creds {
		if fc.issuer != c.Issuer {
			continue
		}
		issuerMatch = true
		if fc.subject == c.Subject {
			if !c.Audience.Contains(TokenExchangeAudience) {
				return &entraErr{http.StatusUnauthorized, "invalid_client", 700212, fmt.Sprintf(
					"No matching federated identity record found for presented assertion audience '%v'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion.",
					[]string(c.Audience))}
			}
			return nil
		}
	}
	if !issuerMatch {
		return &entraErr{http.StatusUnauthorized, "invalid_client", 700211,
			"No matching federated identity record found for presented assertion issuer '" + c.Issuer +
				"'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."}
	}
	return &entraErr{http.StatusUnauthorized, "invalid_client", 700213,
		"No matching federated identity record found for presented assertion subject '" + c.Subject +
			"'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."}
}

func fmtNumericDate(d *jwt.NumericDate) string {
	if d == nil {
		return "(none)"
	}
	return d.Time().UTC().Format(time.RFC3339)
}
