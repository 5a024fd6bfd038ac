package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DescribeJWT summarises the identifying claims of a JWT (aud, iss, sub, oid,
// appid, tid, exp) without verifying it and without the signature, so a
// login failure can say which identity and audience were presented.
func DescribeJWT(token string) string {
	claims, err := Claims(token)
	if err != nil {
		return "an undecodable JWT (" + err.Error() + ")"
	}
	var parts []string
	for _, name := range []string{"aud", "iss", "sub", "oid", "appid", "tid"} {
		if v, ok := claims[name]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", name, v))
		}
	}
	if exp, ok := claims["exp"].(float64); ok {
		parts = append(parts, "exp="+time.Unix(int64(exp), 0).UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, " ")
}

// Claims decodes the payload of a JWT without verifying it. Use it only to
// explain or to key caches by trusted inputs, never to authorise.
func Claims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("payload is not base64url")
	}
	claims := map[string]any{}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("payload is not a JSON object")
	}
	return claims, nil
}

// tokenFacts are what every Mount checks of a service-account token (see
// Request.TokenFor): its subject and expiry (zero: none).
type tokenFacts struct {
	sub string
	exp time.Time
}

// maxTokenFacts bounds the decoded tokens remembered: two or three per pod
// of the node, renewed hourly.
const maxTokenFacts = 8192

var tokenFactsCache, _ = lru.New[[sha256.Size]byte, tokenFacts](maxTokenFacts)

// factsOf decodes token's subject and expiry once per distinct token (keyed
// by its hash, so the cache holds no token): a pod presents the same token
// at every Mount until the kubelet renews it. Undecodable tokens are not
// remembered.
func factsOf(token string) (tokenFacts, error) {
	key := sha256.Sum256([]byte(token))
	if f, ok := tokenFactsCache.Get(key); ok {
		return f, nil
	}
	claims, err := Claims(token)
	if err != nil {
		return tokenFacts{}, err
	}
	var f tokenFacts
	f.sub, _ = claims["sub"].(string)
	if exp, ok := claims["exp"].(float64); ok {
		f.exp = time.Unix(int64(exp), 0)
	}
	tokenFactsCache.Add(key, f)
	return f, nil
}
