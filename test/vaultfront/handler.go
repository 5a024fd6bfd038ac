package vaultfront

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/helper/jsonutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// maxRequestSize is Vault's default limit on request bodies (32 MiB).
const maxRequestSize = 32 << 20

// reqCtx is what the front knows about one HTTP request once it is parsed.
type reqCtx struct {
	r      *http.Request
	id     string
	nsPath string     // resolved namespace path, "" for the root namespace
	ns     *namespace // nil when the namespace does not exist
	path   string     // path relative to the namespace, no leading slash
	token  string
	remote string
	port   int
}

// statsKey is the path under which the request is counted and matched
// against faults: the namespace-relative path prefixed by the namespace.
func (rc *reqCtx) statsKey() string {
	if rc.nsPath == "" {
		return rc.path
	}
	return rc.nsPath + "/" + rc.path
}

// ServeHTTP implements http.Handler: it is the whole Vault HTTP API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		respondError(w, http.StatusNotFound, errors.New("vaultfront serves only /v1/ paths"))
		return
	}
	rc := s.newReqCtx(r)
	s.stats.record(r.Method, rc)
	w, done := s.observe(w, rc)
	answered, failed := s.faults.apply(w, r, rc, s.stop)
	defer func() { done(failed) }()
	if failed {
		s.stats.recordFault(rc)
	}
	if answered {
		return
	}
	if s.sealed.Load() && rc.path != "sys/health" && rc.path != "sys/seal-status" {
		respondError(w, http.StatusServiceUnavailable, consts.ErrSealed)
		return
	}
	if r.Header.Get(consts.WrapTTLHeaderName) != "" {
		respondError(w, http.StatusBadRequest, errors.New("vaultfront does not support response wrapping"))
		return
	}
	if rc.ns == nil {
		respondError(w, http.StatusNotFound, fmt.Errorf("namespace %q not found", rc.nsPath))
		return
	}
	switch {
	case rc.path == "sys" || strings.HasPrefix(rc.path, "sys/"):
		s.handleSys(w, rc)
	case rc.path == "auth/token" || strings.HasPrefix(rc.path, "auth/token/"):
		s.handleTokenAPI(w, rc)
	default:
		s.handleMounted(w, rc)
	}
}

// newReqCtx resolves the namespace (X-Vault-Namespace header, then leading
// path segments that name child namespaces), the token and the client address.
func (s *Server) newReqCtx(r *http.Request) *reqCtx {
	id, err := uuid.GenerateUUID()
	if err != nil {
		id = "request-id-unavailable"
	}
	rc := &reqCtx{r: r, id: id}
	rc.nsPath, rc.ns, rc.path = s.resolveNamespace(r.Header.Get(consts.NamespaceHeaderName),
		strings.TrimPrefix(r.URL.Path, "/v1/"))
	rc.token = r.Header.Get(consts.AuthHeaderName)
	if rc.token == "" {
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			rc.token = strings.TrimSpace(v)
		}
	}
	host, port, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	rc.remote = host
	rc.port, _ = strconv.Atoi(port)
	return rc
}

// requestOperation maps the HTTP method (and ?list=true) to a logical
// operation as Vault does.
func requestOperation(r *http.Request) (logical.Operation, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if list, _ := strconv.ParseBool(r.URL.Query().Get("list")); list {
			return logical.ListOperation, nil
		}
		return logical.ReadOperation, nil
	case http.MethodPost, http.MethodPut:
		return logical.UpdateOperation, nil
	case http.MethodDelete:
		return logical.DeleteOperation, nil
	case "LIST":
		return logical.ListOperation, nil
	case http.MethodPatch:
		return logical.PatchOperation, nil
	default:
		return "", fmt.Errorf("unsupported method %q", r.Method)
	}
}

// requestData returns the request parameters: the query string for reads,
// lists and deletes, the JSON body otherwise (numbers kept as json.Number).
func requestData(r *http.Request, op logical.Operation) (map[string]interface{}, error) {
	switch op {
	case logical.ReadOperation, logical.ListOperation, logical.DeleteOperation:
		return queryData(r.URL.Query()), nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestSize+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(body) > maxRequestSize {
		return nil, errors.New("http: request body too large")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, nil
	}
	var data map[string]interface{}
	if err := jsonutil.DecodeJSON(body, &data); err != nil {
		return nil, fmt.Errorf("failed to parse JSON input: %w", err)
	}
	return data, nil
}

// queryData turns query parameters into request data like Vault's parseQuery:
// one value becomes a string, several a []string; "list" is dropped.
func queryData(q url.Values) map[string]interface{} {
	if len(q) == 0 {
		return nil
	}
	data := map[string]interface{}{}
	for k, v := range q {
		switch {
		case k == "list":
		case len(v) == 1:
			data[k] = v[0]
		default:
			data[k] = v
		}
	}
	if len(data) == 0 {
		return nil
	}
	return data
}

// parseInput reads the operation and the data of a request, answering the
// client itself (and returning ok=false) when either is malformed.
func parseInput(w http.ResponseWriter, rc *reqCtx) (logical.Operation, map[string]interface{}, bool) {
	op, err := requestOperation(rc.r)
	if err != nil {
		respondError(w, http.StatusMethodNotAllowed, err)
		return "", nil, false
	}
	data, err := requestData(rc.r, op)
	if err != nil {
		respondError(w, http.StatusBadRequest, err)
		return "", nil, false
	}
	return op, data, true
}
