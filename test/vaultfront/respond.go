package vaultfront

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/vault/sdk/logical"
)

// errACLDenied is the error text Vault returns when a valid token's
// policies refuse a request.
var errACLDenied = multierror.Append(nil, logical.ErrPermissionDenied)

// respondJSON writes body as JSON with the given status.
func respondJSON(w http.ResponseWriter, status int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(body)
}

// respondError writes Vault's error shape {"errors":[...]}; a nil error gives
// an empty list, as Vault does for a plain 404.
func respondError(w http.ResponseWriter, status int, err error) {
	logical.AdjustErrorStatusCode(&status, err)
	if status == 0 {
		status = http.StatusInternalServerError
	}
	errs := []string{}
	if err != nil {
		errs = append(errs, err.Error())
	}
	respondJSON(w, status, map[string][]string{"errors": errs})
}

// respondOK writes a 200 with body, or a 204 when body is nil.
func respondOK(w http.ResponseWriter, body interface{}) {
	if body == nil {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	respondJSON(w, http.StatusOK, body)
}

// respondBackendError maps a backend's (resp, err) to an HTTP error with
// logical.RespondErrorCommon, as Vault's HTTP layer does. It reports whether
// it wrote a response.
func respondBackendError(w http.ResponseWriter, req *logical.Request, resp *logical.Response, err error) bool {
	status, newErr := logical.RespondErrorCommon(req, resp, err)
	if status == 0 && newErr == nil {
		return false
	}
	respondError(w, status, newErr)
	return true
}

// respondLogical writes a successful logical response in Vault's shape:
// raw responses as they are, nil as 204, everything else as an HTTPResponse.
func respondLogical(w http.ResponseWriter, requestID string, resp *logical.Response) {
	if resp == nil {
		respondOK(w, nil)
		return
	}
	if _, ok := resp.Data[logical.HTTPStatusCode]; ok {
		respondRaw(w, resp)
		return
	}
	for k, v := range resp.Headers {
		for _, vv := range v {
			w.Header().Add(k, vv)
		}
	}
	httpResp := logical.LogicalResponseToHTTPResponse(resp)
	httpResp.RequestID = requestID
	respondOK(w, httpResp)
}

// respondRaw writes a response whose backend asked for a specific status,
// content type and body (logical.HTTPStatusCode and friends).
func respondRaw(w http.ResponseWriter, resp *logical.Response) {
	status, err := rawStatus(resp.Data[logical.HTTPStatusCode])
	if err != nil {
		respondError(w, http.StatusInternalServerError, err)
		return
	}
	var body []byte
	switch b := resp.Data[logical.HTTPRawBody].(type) {
	case nil:
	case []byte:
		body = b
	case string:
		// Best effort, as Vault: the body may be base64 encoded.
		if dec, err := base64.StdEncoding.DecodeString(b); err == nil {
			body = dec
		} else {
			body = []byte(b)
		}
	default:
		respondError(w, http.StatusInternalServerError, errors.New("response body not a string or []byte"))
		return
	}
	if ct, ok := resp.Data[logical.HTTPContentType].(string); ok {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// rawStatus reads the status code a raw response asks for.
func rawStatus(v interface{}) (int, error) {
	switch c := v.(type) {
	case int:
		return c, nil
	case float64:
		return int(c), nil
	case json.Number:
		n, err := c.Int64()
		if err != nil {
			return 0, fmt.Errorf("invalid raw status code %q: %w", c, err)
		}
		return int(n), nil
	default:
		return 0, fmt.Errorf("invalid raw status code type %T", v)
	}
}
