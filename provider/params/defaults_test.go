package params

import "testing"

func TestWithDefaults(t *testing.T) {
	d := Defaults{Namespace: "/platform/", TLS: TLS{CACertPath: "/etc/vault-tls/ca.crt", ServerName: "vault.internal",
		ClientCertPath: "/etc/vault-tls/tls.crt", ClientKeyPath: "/etc/vault-tls/tls.key"}}
	tests := []struct {
		name string
		own  Params
		want Params
	}{
		{"nothing set: all defaults", Params{}, Params{VaultNamespace: "platform", TLS: d.TLS}},
		{"own namespace and server name", Params{VaultNamespace: "team-a", TLS: TLS{ServerName: "v.team-a"}},
			Params{VaultNamespace: "team-a", TLS: TLS{CACertPath: d.TLS.CACertPath, ServerName: "v.team-a", ClientCertPath: d.TLS.ClientCertPath, ClientKeyPath: d.TLS.ClientKeyPath}}},
		{"own CA PEM replaces the CA file", Params{TLS: TLS{CAPEM: "pem"}},
			Params{VaultNamespace: "platform", TLS: TLS{CAPEM: "pem", ServerName: d.TLS.ServerName, ClientCertPath: d.TLS.ClientCertPath, ClientKeyPath: d.TLS.ClientKeyPath}}},
		{"own CA directory replaces the CA file", Params{TLS: TLS{CADirectory: "/ca"}},
			Params{VaultNamespace: "platform", TLS: TLS{CADirectory: "/ca", ServerName: d.TLS.ServerName, ClientCertPath: d.TLS.ClientCertPath, ClientKeyPath: d.TLS.ClientKeyPath}}},
		{"own client pair", Params{TLS: TLS{ClientCertPath: "/c", ClientKeyPath: "/k"}},
			Params{VaultNamespace: "platform", TLS: TLS{CACertPath: d.TLS.CACertPath, ServerName: d.TLS.ServerName, ClientCertPath: "/c", ClientKeyPath: "/k"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			own := tc.own
			got := own.WithDefaults(d)
			if got.VaultNamespace != tc.want.VaultNamespace || got.TLS != tc.want.TLS {
				t.Errorf("WithDefaults = %q %+v, want %q %+v", got.VaultNamespace, got.TLS, tc.want.VaultNamespace, tc.want.TLS)
			}
			if own.VaultNamespace != tc.own.VaultNamespace || own.TLS != tc.own.TLS {
				t.Errorf("WithDefaults changed its receiver: %+v", own)
			}
		})
	}
	p := &Params{}
	if p.WithDefaults(Defaults{}) != p {
		t.Error("without defaults the Params themselves are not returned")
	}
}
