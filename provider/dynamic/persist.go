package dynamic

import (
	"encoding/json"
	"fmt"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// stateVersion names the format of Snapshot.
const stateVersion = 1

// savedEntry is a kept secret as Snapshot writes it: enough to hand it out
// again, renew it and revoke it after a restart.
type savedEntry struct {
	Pod       PodRef        `json:"pod"`
	Identity  string        `json:"identity"`
	Request   string        `json:"request"`
	Secret    *vault.Secret `json:"secret"`
	Owner     savedOwner    `json:"owner"`
	LeaseID   string        `json:"leaseID,omitempty"`
	Renewable bool          `json:"renewable,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
	Start     time.Time     `json:"start"`
	LastRenew time.Time     `json:"lastRenew"`
	Expires   time.Time     `json:"expires,omitzero"`
	MaxEnd    time.Time     `json:"maxEnd,omitzero"`
	Warned    bool          `json:"warned,omitempty"`
	Token     *savedToken   `json:"tokenState,omitempty"`
}

type savedOwner struct {
	Address        string        `json:"address"`
	Connection     string        `json:"connection"`
	Namespace      string        `json:"namespace,omitempty"`
	Token          string        `json:"token"`
	TokenExpires   time.Time     `json:"tokenExpires,omitzero"`
	TokenTTL       time.Duration `json:"tokenTTL,omitempty"`
	TokenRenewable bool          `json:"tokenRenewable,omitempty"`
}

type savedToken struct {
	TTL       time.Duration `json:"ttl"`
	Renewable bool          `json:"renewable"`
	Expires   time.Time     `json:"expires,omitzero"`
	LastRenew time.Time     `json:"lastRenew"`
	Final     bool          `json:"final"`
}

type savedState struct {
	Version int          `json:"version"`
	Entries []savedEntry `json:"entries"`
}

// Snapshot returns the kept secrets as JSON if they changed since the last
// snapshot (changed false: nothing to write).
func (s *Store) Snapshot() (data []byte, changed bool, err error) {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil, false, nil
	}
	s.dirty = false
	st := savedState{Version: stateVersion, Entries: make([]savedEntry, 0, len(s.entries))}
	for k, e := range s.entries {
		se := savedEntry{Pod: k.Pod, Identity: k.Identity, Request: k.Request, Secret: e.secret,
			Owner: savedOwner{Address: e.owner.Address, Connection: e.owner.Connection, Namespace: e.owner.Namespace, Token: e.owner.Token,
				TokenExpires: e.owner.TokenExpires, TokenTTL: e.owner.TokenTTL, TokenRenewable: e.owner.TokenRenewable},
			LeaseID: e.leaseID, Renewable: e.renewable, Duration: e.duration,
			Start: e.start, LastRenew: e.lastRenew, Expires: e.expires, MaxEnd: e.maxEnd, Warned: e.warned}
		if t := e.tok; t != nil {
			se.Token = &savedToken{TTL: t.ttl, Renewable: t.renewable, Expires: t.expires, LastRenew: t.lastRenew, Final: t.final}
		}
		st.Entries = append(st.Entries, se)
	}
	s.mu.Unlock()
	data, err = json.Marshal(st)
	if err != nil {
		s.markDirty()
		return nil, false, err
	}
	return data, true, nil
}

// MarkChanged makes the next Snapshot write everything (after a write failed).
func (s *Store) MarkChanged() { s.markDirty() }

func (s *Store) markDirty() {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}

// ClientFor returns the base Vault client (no token) of an address and its
// connection settings, as the provider's pool builds it.
type ClientFor func(address, connection string) (*vault.Client, error)

// Restore keeps again the secrets of a Snapshot, as if their pods had
// just mounted: their leases are renewed while the pods run and revoked
// once they are gone. Secrets past their end, or whose Vault client cannot
// be built, are skipped. It returns how many were restored.
func (s *Store) Restore(data []byte, clientFor ClientFor) (int, error) {
	var st savedState
	if err := json.Unmarshal(data, &st); err != nil {
		return 0, fmt.Errorf("reading the kept dynamic secrets: %w", err)
	}
	if st.Version != stateVersion {
		return 0, fmt.Errorf("kept dynamic secrets of format %d, this provider reads %d", st.Version, stateVersion)
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, se := range st.Entries {
		key := Key{Pod: se.Pod, Identity: se.Identity, Request: se.Request}
		if key.Pod.UID == "" || se.Secret == nil {
			continue
		}
		if _, ok := s.entries[key]; ok {
			continue
		}
		client, err := clientFor(se.Owner.Address, se.Owner.Connection)
		if err != nil {
			continue
		}
		o := se.Owner
		e := &entry{secret: se.Secret, owner: Owner{Client: client, Address: o.Address, Connection: o.Connection, Namespace: o.Namespace, Token: o.Token,
			TokenExpires: o.TokenExpires, TokenTTL: o.TokenTTL, TokenRenewable: o.TokenRenewable},
			leaseID: se.LeaseID, renewable: se.Renewable, duration: se.Duration, start: se.Start, lastRenew: se.LastRenew,
			expires: se.Expires, maxEnd: se.MaxEnd, warned: se.Warned, lastMount: now}
		s.add(key, e)
		if t, st := e.tok, se.Token; t != nil && st != nil && t.refs == 1 {
			t.ttl, t.renewable, t.expires, t.lastRenew, t.final = st.TTL, st.Renewable, st.Expires, st.LastRenew, st.Final
		}
		if end := e.end(); !end.IsZero() && !now.Before(end) {
			s.remove(key, e)
			continue
		}
		n++
	}
	return n, nil
}
