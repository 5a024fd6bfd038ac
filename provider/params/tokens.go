package params

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// parseTokens reads the service-account tokens that the driver requested for
// the pod (CSIDriver tokenRequests).
func (p *Params) parseTokens(attrs map[string]string) error {
	raw := attrs[AttrServiceAccountTokens]
	if raw == "" {
		return nil
	}
	tokens := map[string]driverToken{}
	if err := json.Unmarshal([]byte(raw), &tokens); err != nil {
		return invalid(AttrServiceAccountTokens, "is not the JSON the driver sends ({\"<audience>\":{\"token\":\"…\",\"expirationTimestamp\":\"…\"}}): %s", jsonErrorKind(err))
	}
	p.ServiceAccountTokens = make(map[string]auth.ServiceAccountToken, len(tokens))
	for aud, t := range tokens {
		if t.Token == "" {
			return invalid(AttrServiceAccountTokens, "the token for audience %q is empty", short(aud))
		}
		// An unreadable expirationTimestamp is an unknown one: the token's
		// exp still counts (auth.Request.TokenFor).
		exp, _ := time.Parse(time.RFC3339, t.ExpirationTimestamp)
		p.ServiceAccountTokens[aud] = auth.ServiceAccountToken{Token: t.Token, Expires: exp}
	}
	return nil
}

// driverToken is one token of the driver's serviceAccount.tokens attribute.
type driverToken struct {
	Token               string `json:"token"`
	ExpirationTimestamp string `json:"expirationTimestamp"`
}

// jsonErrorKind describes a JSON error without echoing the input (which may
// contain a token).
func jsonErrorKind(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("wrong type at %q (want %s)", e.Field, e.Type)
	default:
		return "malformed JSON"
	}
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must start with https:// or http://")
	}
	if u.Host == "" {
		return fmt.Errorf("has no host")
	}
	return nil
}
