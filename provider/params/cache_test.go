package params

import (
	"fmt"
	"reflect"
	"testing"
)

func TestCacheParsesOncePerRequest(t *testing.T) {
	c := NewCache(testMethods, 16, 1<<20)
	attrs := attrsJSON(t, base(nil))
	first, err := c.Parse(attrs, "420")
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Parse(attrs, "420")
	if err != nil || again != first {
		t.Fatalf("second Parse of the same request = %p, %v; want the remembered %p", again, err, first)
	}
	direct, err := Parse(attrs, "420", testMethods)
	if err != nil || !reflect.DeepEqual(direct, first) {
		t.Fatalf("cached Params differ from Parse's: %+v vs %+v (%v)", first, direct, err)
	}
	// Another permission or other attributes are another request.
	other, err := c.Parse(attrs, "384")
	if err != nil || other == first || other.FilePermission != 0o600 {
		t.Errorf("Parse with permission 384 = %+v, %v; want its own Params with mode 0600", other, err)
	}
	renamed, err := c.Parse(attrsJSON(t, base(map[string]string{AttrPodName: "web-1"})), "420")
	if err != nil || renamed == first || renamed.Pod.Name != "web-1" {
		t.Errorf("Parse for pod web-1 = %+v, %v; want its own Params", renamed, err)
	}
}

func TestCacheRemembersNoFailure(t *testing.T) {
	c := NewCache(testMethods, 16, 1<<20)
	bad := attrsJSON(t, base(map[string]string{"roleName": "<delete>"}))
	for range 2 {
		if _, err := c.Parse(bad, "420"); err == nil {
			t.Fatal("a class without roleName parsed")
		}
	}
	if c.Len() != 0 {
		t.Errorf("the cache holds %d entries after failures, want 0", c.Len())
	}
}

// TestCacheIsBounded: a namespace that sends ever new requests holds at
// most the cache's entries and bytes, and one request over an eighth of
// the bytes is parsed but not kept.
func TestCacheIsBounded(t *testing.T) {
	c := NewCache(testMethods, 8, 64<<10)
	for i := range 100 {
		if _, err := c.Parse(attrsJSON(t, base(map[string]string{AttrPodName: fmt.Sprintf("web-%d", i)})), "420"); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 8 {
		t.Errorf("entries = %d, want the bound of 8", c.Len())
	}
	big := NewCache(testMethods, 1024, 4<<10)
	for i := range 100 {
		if _, err := big.Parse(attrsJSON(t, base(map[string]string{AttrPodName: fmt.Sprintf("web-%d", i)})), "420"); err != nil {
			t.Fatal(err)
		}
	}
	if big.bytes > 4<<10 {
		t.Errorf("bytes = %d, over the bound of %d", big.bytes, 4<<10)
	}
	huge := attrsJSON(t, base(map[string]string{"note": string(make([]byte, 1024))}))
	if _, err := big.Parse(huge, "420"); err != nil {
		t.Fatal(err)
	}
	if p, _ := big.Parse(huge, "420"); p == nil {
		t.Fatal("no Params for a large request")
	}
	big.mu.Lock()
	n := 0
	for _, k := range big.lru.Keys() {
		if v, _ := big.lru.Peek(k); v.size > (4<<10)/8 {
			n++
		}
	}
	big.mu.Unlock()
	if n != 0 {
		t.Errorf("%d requests over an eighth of the bytes were kept", n)
	}
}
