package vaultfront

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/helper/base62"
	"github.com/hashicorp/vault/sdk/logical"
)

// token is a service token owned by the front.
type token struct {
	id             string
	accessor       string
	ns             string // namespace path the token belongs to
	root           bool
	policies       []string
	meta           map[string]string
	displayName    string
	path           string // creation path, e.g. "auth/jwt/login"
	entityID       string
	mount          *mount        // auth mount that issued it; nil for the token store
	auth           *logical.Auth // the backend's login Auth, sent back on renewal
	issued         time.Time
	lastRenew      time.Time
	expires        time.Time // zero: never expires
	creationTTL    time.Duration
	renewable      bool
	period         time.Duration
	maxTTL         time.Duration
	explicitMaxTTL time.Duration
	numUses        int
	orphan         bool
}

// tokenStore holds every non-root token of every namespace.
type tokenStore struct {
	mu   sync.Mutex
	byID map[string]*token
	// byAccessor maps accessors to token ids.
	byAccessor map[string]string
	// issued lists every token id ever added, for tests (IssuedTokens).
	issued []string
}

// newTokenStore returns an empty token store.
func newTokenStore() *tokenStore {
	return &tokenStore{byID: map[string]*token{}, byAccessor: map[string]string{}}
}

// add stores a token.
func (ts *tokenStore) add(t *token) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.byID[t.id] = t
	ts.byAccessor[t.accessor] = t.id
	ts.issued = append(ts.issued, t.id)
}

// get returns a copy of a live token. An expired token is removed and
// returned with expired=true so its leases can be revoked.
func (ts *tokenStore) get(id string, now time.Time) (t token, ok, expired bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	p := ts.byID[id]
	if p == nil {
		return token{}, false, false
	}
	if !p.expires.IsZero() && !now.Before(p.expires) {
		ts.removeLocked(id)
		return *p, false, true
	}
	return *p, true, false
}

// idForAccessor returns the token id of an accessor.
func (ts *tokenStore) idForAccessor(accessor string) (string, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	id, ok := ts.byAccessor[accessor]
	return id, ok
}

// remove deletes a token and reports whether it existed.
func (ts *tokenStore) remove(id string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.removeLocked(id)
}

// removeLocked deletes a token; ts.mu is held.
func (ts *tokenStore) removeLocked(id string) bool {
	t := ts.byID[id]
	if t == nil {
		return false
	}
	delete(ts.byID, id)
	delete(ts.byAccessor, t.accessor)
	return true
}

// clear forgets every token.
func (ts *tokenStore) clear() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.byID = map[string]*token{}
	ts.byAccessor = map[string]string{}
}

// expire removes and returns the tokens expired at now.
func (ts *tokenStore) expire(now time.Time) []*token {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []*token
	for id, t := range ts.byID {
		if !t.expires.IsZero() && !now.Before(t.expires) {
			out = append(out, t)
			ts.removeLocked(id)
		}
	}
	return out
}

// use counts one use of a token with limited uses, removing it after its
// last use. It reports whether the token was used up.
func (ts *tokenStore) use(id string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.byID[id]
	if t == nil || t.numUses <= 0 {
		return false
	}
	t.numUses--
	if t.numUses == 0 {
		ts.removeLocked(id)
		return true
	}
	return false
}

// renewed records a renewal: a new expiry at now+ttl.
func (ts *tokenStore) renewed(id string, now time.Time, ttl time.Duration) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.byID[id]
	if t == nil {
		return false
	}
	t.lastRenew = now
	t.expires = now.Add(ttl)
	return true
}

// newTokenID returns a random token id (Vault's "hvs." service token form)
// and accessor.
func newTokenID() (id, accessor string, err error) {
	r, err := base62.Random(24)
	if err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	acc, err := base62.Random(24)
	if err != nil {
		return "", "", fmt.Errorf("generate accessor: %w", err)
	}
	return "hvs." + r, acc, nil
}

// mintToken stores t after giving it an id, an accessor, an issue time and
// an expiry from ttl (0 means it never expires).
func (s *Server) mintToken(t *token, ttl time.Duration) (*token, error) {
	id, acc, err := newTokenID()
	if err != nil {
		return nil, fmt.Errorf("vaultfront: %w", err)
	}
	t.id, t.accessor = id, acc
	t.issued = time.Now()
	t.creationTTL = ttl
	if ttl > 0 {
		t.expires = t.issued.Add(ttl)
	}
	t.policies = slices.Clone(t.policies)
	t.meta = maps.Clone(t.meta)
	s.tokens.add(t)
	cp := *t
	return &cp, nil
}

// rootTokenEntry is the root token as seen from namespace ns.
func (s *Server) rootTokenEntry(ns string) *token {
	return &token{
		id: s.rootToken, accessor: "root-accessor", ns: ns, root: true, policies: []string{"root"},
		displayName: "root", path: "auth/token/root", orphan: true,
	}
}

// authenticate resolves the request's token in the request's namespace.
// Missing, unknown, expired and foreign-namespace tokens are all refused
// with "permission denied", as Vault does.
func (s *Server) authenticate(rc *reqCtx) (*token, error) {
	if rc.token == "" {
		return nil, logical.ErrPermissionDenied
	}
	if rc.token == s.rootToken {
		return s.rootTokenEntry(rc.nsPath), nil
	}
	t, ok, expired := s.tokens.get(rc.token, time.Now())
	if expired {
		s.revokeLeasesOfToken(t.id)
	}
	if !ok || t.ns != rc.nsPath {
		return nil, logical.ErrPermissionDenied
	}
	return &t, nil
}

// checkACL checks the token's policies for op on path p (namespace-relative)
// and counts one use of the token.
func (s *Server) checkACL(rc *reqCtx, t *token, op logical.Operation, p string, sudo bool) error {
	if !t.root && !s.aclFor(rc.ns, t.policies).allowed(p, op, sudo) {
		return errACLDenied
	}
	if !t.root && s.tokens.use(t.id) {
		s.revokeLeasesOfToken(t.id)
	}
	return nil
}

// revokeToken revokes a token and the leases it created.
func (s *Server) revokeToken(id string) {
	if id == s.rootToken {
		return
	}
	s.tokens.remove(id)
	s.revokeLeasesOfToken(id)
}

// authBlock is the "auth" section of a login, create or renew response.
func (t *token) authBlock(ttl time.Duration) *logical.Auth {
	return &logical.Auth{
		LeaseOptions:  logical.LeaseOptions{TTL: ttl, Renewable: t.renewable},
		ClientToken:   t.id,
		Accessor:      t.accessor,
		Policies:      t.policies,
		TokenPolicies: t.policies,
		Metadata:      t.meta,
		EntityID:      t.entityID,
		TokenType:     logical.TokenTypeService,
		Orphan:        t.orphan,
		NumUses:       t.numUses,
	}
}

// lookupData is the data of auth/token/lookup-self and friends.
func (t *token) lookupData(now time.Time) map[string]interface{} {
	var expireTime interface{}
	ttl := int64(0)
	if !t.expires.IsZero() {
		expireTime = t.expires.Format(time.RFC3339Nano)
		ttl = max(int64(t.expires.Sub(now).Seconds()), 0)
	}
	nsPath := ""
	if t.ns != "" {
		nsPath = t.ns + "/"
	}
	data := map[string]interface{}{
		"accessor": t.accessor, "creation_time": t.issued.Unix(), "creation_ttl": int64(t.creationTTL.Seconds()),
		"display_name": t.displayName, "entity_id": t.entityID, "expire_time": expireTime,
		"explicit_max_ttl": int64(t.explicitMaxTTL.Seconds()), "id": t.id, "meta": t.meta,
		"num_uses": t.numUses, "orphan": t.orphan, "path": t.path, "policies": t.policies,
		"renewable": t.renewable, "ttl": ttl, "type": "service", "namespace_path": nsPath,
	}
	if !t.issued.IsZero() {
		data["issue_time"] = t.issued.Format(time.RFC3339Nano)
	}
	if !t.lastRenew.IsZero() {
		data["last_renewal"] = t.lastRenew.Format(time.RFC3339Nano)
		data["last_renewal_time"] = t.lastRenew.Unix()
	}
	if t.period > 0 {
		data["period"] = int64(t.period.Seconds())
	}
	return data
}

// entityStore gives each (auth mount, alias name) pair a stable entity id,
// standing in for Vault's identity store.
type entityStore struct {
	mu  sync.Mutex
	ids map[string]string
}

// newEntityStore returns an empty entity store.
func newEntityStore() *entityStore { return &entityStore{ids: map[string]string{}} }

// idFor returns the entity id of an alias on a mount, creating it.
func (e *entityStore) idFor(mountAccessor, alias string) (string, error) {
	key := mountAccessor + "/" + alias
	e.mu.Lock()
	defer e.mu.Unlock()
	if id, ok := e.ids[key]; ok {
		return id, nil
	}
	id, err := uuid.GenerateUUID()
	if err != nil {
		return "", fmt.Errorf("vaultfront: generate entity id: %w", err)
	}
	e.ids[key] = id
	return id, nil
}

// removeNamespace forgets every token of a namespace.
func (ts *tokenStore) removeNamespace(ns string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for id, t := range ts.byID {
		if t.ns == ns {
			ts.removeLocked(id)
		}
	}
}
