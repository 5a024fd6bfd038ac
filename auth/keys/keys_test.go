package keys

import "testing"

func TestJoinIsUnambiguous(t *testing.T) {
	seen := map[string][]string{}
	for _, parts := range [][]string{{"a", "bc"}, {"ab", "c"}, {"a:b", "c"}, {"a", "b:c"}, {"", "abc"}, {"abc", ""}, {"abc"}, {"1:a"}, {"1:a", ""}} {
		k := Join(parts...)
		if other, dup := seen[k]; dup {
			t.Errorf("%q and %q share key %q", other, parts, k)
		}
		seen[k] = parts
	}
	if Hash("token") == Hash("token2") || len(Hash("x")) != 32 {
		t.Error("Hash")
	}
}
