package provider

import (
	"context"
	"testing"
)

// TestVersionKeyMakesVersionsStable: two providers (two processes, two
// nodes) with the same key report the same version for the same content;
// without a key each has its own.
func TestVersionKeyMakesVersionsStable(t *testing.T) {
	objs := "- {objectName: password, secretPath: secret/db, secretKey: password}\n"
	fv := newFakeVault(t)
	versions := func(p *Provider) string {
		t.Helper()
		res, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, objs, nil), "/t", "420")
		if err != nil {
			t.Fatal(err)
		}
		return res.Versions[0].Version
	}
	key := []byte("0123456789abcdef0123456789abcdef-shared-key")
	a := newProvider(t, Config{VersionKey: key}, &fakeAuth{})
	b := newProvider(t, Config{VersionKey: append([]byte(nil), key...)}, &fakeAuth{})
	other := newProvider(t, Config{VersionKey: []byte("another key, another version space!!")}, &fakeAuth{})
	random1 := newProvider(t, Config{}, &fakeAuth{})
	random2 := newProvider(t, Config{}, &fakeAuth{})

	va, vb := versions(a), versions(b)
	if va != vb {
		t.Errorf("same key, same content: versions %s and %s differ", va, vb)
	}
	if vo := versions(other); vo == va {
		t.Errorf("a different key gave the same version %s", vo)
	}
	if r1, r2 := versions(random1), versions(random2); r1 == r2 {
		t.Errorf("two providers without a key share versions (%s): the random key is not random", r1)
	}
	fv.set("db", "password", "pw-changed")
	if va2, vb2 := versions(a), versions(b); va2 == va || va2 != vb2 {
		t.Errorf("after a change: versions %s and %s (before %s): want a new version, equal on both", va2, vb2, va)
	}
}
