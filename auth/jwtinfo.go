package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
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
