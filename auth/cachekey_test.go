package auth

import (
	"reflect"
	"testing"
	"time"
)

// TestCacheKeyCoversEveryField fails when a Request field is added that is
// neither part of the token cache key nor listed in notInKey: two requests
// that differ in one field each must get other keys (or, for the fields
// listed, the same key). The base request sets every field, so a new field
// must be set here too.
func TestCacheKeyCoversEveryField(t *testing.T) {
	base := Request{
		VaultAddress: "https://vault:8200", VaultNamespace: "team-a", Connection: `{"CACertPath":"/ca"}`,
		Method: MethodAzure, MountPath: "azure", Role: "app", Audience: "vault",
		Params: fakeParams{Identity: "workload", ClientID: "c", Resource: "r"},
		Pod:    Pod{Namespace: "shop", Name: "web-0", UID: "u", ServiceAccount: "web"},
		Tokens: map[string]ServiceAccountToken{"vault": {Token: "t", Expires: time.Unix(1, 0)}},
	}
	v := reflect.ValueOf(base)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if v.Field(i).IsZero() {
			t.Fatalf("the base request leaves %s unset: set it, so the test can tell whether it is part of the key", name)
		}
		other := base
		reflect.ValueOf(&other).Elem().Field(i).SetZero()
		same := CacheKey(&base, "p") == CacheKey(&other, "p")
		if _, excluded := notInKey[name]; same != excluded {
			t.Errorf("requests that differ only in %s: same key = %v, want %v (a field is in the key unless notInKey lists it, with the reason)",
				name, same, excluded)
		}
	}
	for name := range notInKey {
		if _, ok := v.Type().FieldByName(name); !ok {
			t.Errorf("notInKey lists %s, which is not a Request field", name)
		}
	}
	if CacheKey(&base, "p") == CacheKey(&base, "q") {
		t.Error("two principals got one key")
	}
}

// TestCacheKeyCoversEveryParameter: each field of a method's parameters
// counts, whatever the method's type.
func TestCacheKeyCoversEveryParameter(t *testing.T) {
	base := Request{Method: "fake", Params: fakeParams{Identity: "i", ClientID: "c", Resource: "r"}}
	p := reflect.ValueOf(base.Params)
	for i := range p.NumField() {
		changed := reflect.New(p.Type()).Elem()
		changed.Set(p)
		changed.Field(i).SetZero()
		other := base
		other.Params = changed.Interface()
		if CacheKey(&base, "p") == CacheKey(&other, "p") {
			t.Errorf("parameters that differ only in %s share a key", p.Type().Field(i).Name)
		}
	}
}
