package allow

import "testing"

func TestAddresses(t *testing.T) {
	a, err := ParseAddresses([]string{"https://vault.vault.svc:8200", "https://*.vault.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"https://vault.vault.svc:8200":         true,
		"https://VAULT.vault.svc:8200/":        true,
		"https://vault.vault.svc":              false,
		"http://vault.vault.svc:8200":          false,
		"https://east.vault.example.com":       true,
		"https://a.b.vault.example.com":        false,
		"https://evil.com/.vault.example.com":  false,
		"https://user:pw@vault.vault.svc:8200": false,
		"https://attacker.example:8200":        false,
	} {
		if got := a.Allows(addr); got != want {
			t.Errorf("Allows(%q) = %v, want %v", addr, got, want)
		}
	}
	if !(Addresses(nil)).Allows("https://anything") || (Addresses(nil)).Lists("https://anything") {
		t.Error("empty list")
	}
	for _, bad := range []string{"vault:8200", "https://", "https://v/x", "ftp://v", "https://u:p@v"} {
		if _, err := ParseAddresses([]string{bad}); err == nil {
			t.Errorf("ParseAddresses(%q) accepted", bad)
		}
	}
}

func TestDirectories(t *testing.T) {
	d, err := ParseDirectories([]string{"/etc/vault-tls/{namespace}", "/etc/vault-ca/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, ns string
		want     bool
	}{
		{"/etc/vault-tls/shop/client.crt", "shop", true},
		{"/etc/vault-tls/billing/client.crt", "shop", false},
		{"/etc/vault-tls/shop/../billing/client.key", "shop", false},
		{"/etc/vault-ca/ca.crt", "shop", true},
		{"/etc/vault-ca", "shop", false},
		{"relative/ca.crt", "shop", false},
		{"/etc/vault-tls/../vault-tls/x/y", "..", false},
		{"/dev/zero", "shop", false},
	} {
		if got := d.Allows(tc.file, tc.ns); got != tc.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", tc.file, tc.ns, got, tc.want)
		}
	}
	if _, err := ParseDirectories([]string{"etc"}); err == nil {
		t.Error("a relative directory was accepted")
	}
}

func TestNodeIdentities(t *testing.T) {
	n, err := ParseNodeIdentities([]string{"ops:0C6B8F2E-5A1D-4C3B-9E7F-1A2B3C4D5E6F", "ops:system", "monitoring", "*:11111111-2222-3333-4444-555555555555"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ns, id string
		want   bool
	}{
		{"ops", "0c6b8f2e-5a1d-4c3b-9e7f-1a2b3c4d5e6f", true},
		{"ops", "", true},
		{"ops", "99999999-2222-3333-4444-555555555555", false},
		{"monitoring", "99999999-2222-3333-4444-555555555555", true},
		{"shop", "11111111-2222-3333-4444-555555555555", true},
		{"shop", "", false},
		{"", "11111111-2222-3333-4444-555555555555", false},
	} {
		if got := n.Allows(tc.ns, tc.id); got != tc.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", tc.ns, tc.id, got, tc.want)
		}
	}
	if !n.Namespace("shop") || (NodeIdentities{{Namespace: "ops", ClientID: "*"}}).Namespace("shop") {
		t.Error("Namespace")
	}
	if _, err := ParseNodeIdentities([]string{"ops:"}); err == nil {
		t.Error("an empty client ID was accepted")
	}
}
