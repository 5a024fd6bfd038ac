package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// spcDoc is the part of a SecretProviderClass that the driver passes to the
// provider.
type spcDoc struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Provider   string            `yaml:"provider"`
		Parameters map[string]string `yaml:"parameters"`
	} `yaml:"spec"`
}

// loadSPC reads the SecretProviderClass named name (empty: the first) from a
// YAML file of one or more documents.
func loadSPC(path, name string) (*spcDoc, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var names []string
	for i := 0; ; i++ {
		var doc spcDoc
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s document %d is not valid YAML: %w", path, i+1, err)
		}
		if doc.Kind != "SecretProviderClass" {
			continue
		}
		if name == "" || doc.Metadata.Name == name {
			return &doc, nil
		}
		names = append(names, doc.Metadata.Name)
	}
	if name != "" {
		return nil, fmt.Errorf("%s has no SecretProviderClass named %q (it has %q)", path, name, names)
	}
	return nil, fmt.Errorf("%s has no SecretProviderClass (kind: SecretProviderClass)", path)
}

// suppliedToken is a service-account token given on the command line.
type suppliedToken struct {
	audience string
	path     string
	token    string
	expires  time.Time // from the exp claim; zero if none
}

// readTokens reads the --token-file files. It fails only when a file cannot
// be read: what is in the token is checked as a step of its own.
func readTokens(files tokenFiles) (map[string]suppliedToken, error) {
	out := map[string]suppliedToken{}
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return nil, fmt.Errorf("reading --token-file for audience %q: %w", f.audience, err)
		}
		t := suppliedToken{audience: f.audience, path: f.path, token: strings.TrimSpace(string(b))}
		if claims, err := auth.Claims(t.token); err == nil {
			if exp, ok := claims["exp"].(float64); ok {
				t.expires = time.Unix(int64(exp), 0).UTC()
			}
		}
		out[f.audience] = t
	}
	return out, nil
}

// attributes builds the attributes JSON the driver would send for the pod.
func attributes(spc *spcDoc, pod auth.Pod, tokens map[string]suppliedToken) (string, error) {
	attrs := map[string]string{}
	for k, v := range spc.Spec.Parameters {
		attrs[k] = v
	}
	attrs["secretProviderClass"] = spc.Metadata.Name
	attrs[params.AttrPodName] = pod.Name
	attrs[params.AttrPodNamespace] = pod.Namespace
	attrs[params.AttrPodUID] = pod.UID
	attrs[params.AttrServiceAccountName] = pod.ServiceAccount
	if len(tokens) > 0 {
		// The driver's form: {"<audience>": {"token": …, "expirationTimestamp": …}}.
		toks := map[string]map[string]string{}
		for aud, t := range tokens {
			st := map[string]string{"token": t.token}
			if !t.expires.IsZero() {
				st["expirationTimestamp"] = t.expires.Format(time.RFC3339)
			}
			toks[aud] = st
		}
		b, err := json.Marshal(toks)
		if err != nil {
			return "", err
		}
		attrs[params.AttrServiceAccountTokens] = string(b)
	}
	b, err := json.Marshal(attrs)
	return string(b), err
}

// objectAttributes is attrs with only the i-th object of the objects
// parameter, to find out which object fails.
func objectAttributes(attrs string, i int) (string, error) {
	m := map[string]string{}
	if err := json.Unmarshal([]byte(attrs), &m); err != nil {
		return "", err
	}
	var objs []yaml.Node
	if err := yaml.Unmarshal([]byte(m["objects"]), &objs); err != nil {
		return "", fmt.Errorf("re-reading objects: %w", err)
	}
	if i < 0 || i >= len(objs) {
		return "", fmt.Errorf("objects has no index %d", i)
	}
	one, err := yaml.Marshal([]*yaml.Node{&objs[i]})
	if err != nil {
		return "", err
	}
	m["objects"] = string(one)
	b, err := json.Marshal(m)
	return string(b), err
}
