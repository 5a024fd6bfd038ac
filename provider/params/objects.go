package params

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Encodings of a secret value as stored in Vault.
const (
	EncodingUTF8   = "utf-8"
	EncodingBase64 = "base64"
	EncodingHex    = "hex"
)

// Object is one file to mount: which Vault path and key to read, and how.
type Object struct {
	ObjectName string
	// SecretPath is the Vault API path, without a leading "/v1/" and
	// without the query, e.g. "secret/data/app".
	SecretPath string
	// Query holds the URL query parameters written after "?" in
	// secretPath (e.g. version=2 for a KV v2 version); nil if none.
	Query     url.Values
	SecretKey string
	Method    string // GET (default), POST or PUT
	// SecretArgs is the JSON body sent with the request, whatever the
	// method (as HashiCorp's provider does); nil: no body.
	SecretArgs map[string]any
	Encoding   string // utf-8 (default), base64 or hex
	// FilePermission is the file mode; zero means the mount's permission.
	FilePermission os.FileMode
	// Reuse: a dynamic secret (a lease, a certificate) Vault issued for this
	// pod is handed out again at the pod's later Mounts until it must be
	// renewed or replaced (default true; reuse: false asks Vault every time).
	Reuse bool
}

// rawObject mirrors one YAML entry of the "objects" parameter.
type rawObject struct {
	ObjectName     string         `yaml:"objectName"`
	SecretPath     string         `yaml:"secretPath"`
	SecretKey      string         `yaml:"secretKey"`
	SecretArgs     map[string]any `yaml:"secretArgs"`
	Method         string         `yaml:"method"`
	Encoding       string         `yaml:"encoding"`
	FilePermission *int64         `yaml:"filePermission"`
	Reuse          *bool          `yaml:"reuse"`
}

const knownObjectFields = "objectName, secretPath, secretKey, secretArgs, method, encoding, filePermission, reuse"

func (p *Params) parseObjects(attrs map[string]string) error {
	raw := attrs["objects"]
	if strings.TrimSpace(raw) == "" {
		return invalid("objects", "is required: list the secrets to mount, e.g. \"- objectName: db-password\\n  secretPath: secret/data/db\\n  secretKey: password\"")
	}
	entries, err := decodeObjects(raw)
	if err != nil {
		return invalid("objects", "is not a YAML list of objects (%s): known fields are %s", yamlError(err), knownObjectFields)
	}
	if len(entries) == 0 {
		return invalid("objects", "lists no object: add at least one entry with objectName and secretPath")
	}
	if len(entries) > maxObjects {
		return invalid("objects", "lists %d objects, more than the limit of %d: split them over several SecretProviderClasses", len(entries), maxObjects)
	}
	seen := map[string]int{}
	p.Objects = make([]Object, 0, len(entries))
	for i, e := range entries {
		obj, err := validateObject(i, e)
		if err != nil {
			return err
		}
		if j, dup := seen[obj.ObjectName]; dup {
			return invalid(fmt.Sprintf("objects[%d].objectName", i), "%q is also used by objects[%d]: every object needs its own file name", obj.ObjectName, j)
		}
		seen[obj.ObjectName] = i
		p.Objects = append(p.Objects, obj)
	}
	return checkFileDirConflicts(p.Objects)
}

// decodeObjects decodes the objects list strictly (unknown fields are an
// error). YAML maps decode to map[string]any, so nested secretArgs can be
// sent as JSON.
func decodeObjects(raw string) ([]rawObject, error) {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.KnownFields(true)
	var entries []rawObject
	if err := dec.Decode(&entries); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return entries, nil
}

// yamlError keeps the YAML parser's line information but never echoes the
// document, which could carry a secretArgs value.
func yamlError(err error) string {
	msg := err.Error()
	if te, ok := err.(*yaml.TypeError); ok {
		msg = strings.Join(te.Errors, "; ")
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

func validateObject(i int, e rawObject) (Object, error) {
	field := func(name string) string { return fmt.Sprintf("objects[%d].%s", i, name) }
	name, err := cleanObjectName(e.ObjectName)
	if err != nil {
		return Object{}, invalid(field("objectName"), "%q: %v", short(e.ObjectName), err)
	}
	if strings.Trim(strings.TrimSpace(e.SecretPath), "/") == "" {
		return Object{}, invalid(field("secretPath"), "is required: the Vault path to read, e.g. secret/data/db")
	}
	secretPath, query, err := splitSecretPath(e.SecretPath)
	if err != nil {
		return Object{}, invalid(field("secretPath"), "%q %v", short(e.SecretPath), err)
	}
	o := Object{ObjectName: name, SecretPath: secretPath, Query: query, SecretKey: e.SecretKey, SecretArgs: e.SecretArgs,
		Reuse: e.Reuse == nil || *e.Reuse}
	if o.Method, err = normalizeMethod(e.Method); err != nil {
		return Object{}, invalid(field("method"), "%v", err)
	}
	if _, err := json.Marshal(o.SecretArgs); err != nil {
		return Object{}, invalid(field("secretArgs"), "cannot be sent as JSON: use string keys and plain values")
	}
	if o.Encoding, err = normalizeEncoding(e.Encoding); err != nil {
		return Object{}, invalid(field("encoding"), "%v", err)
	}
	if e.FilePermission != nil {
		m := *e.FilePermission
		if m <= 0 || m > maxFilePermission {
			return Object{}, invalid(field("filePermission"), "%d (octal %#o) is not a file mode between 0001 and 0777: write it in octal, e.g. 0600", m, m)
		}
		o.FilePermission = os.FileMode(m)
	}
	return o, nil
}

// splitSecretPath reads secretPath as HashiCorp's provider does: an
// optional "/v1/" (or "v1/") prefix is the API version, not part of the
// path, and anything after "?" is sent as URL query parameters.
func splitSecretPath(raw string) (string, url.Values, error) {
	p, rawQuery, hasQuery := strings.Cut(strings.TrimSpace(raw), "?")
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimPrefix(p, "v1/")
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil, fmt.Errorf("names no path after the API version: write the Vault path, e.g. secret/data/db")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", nil, fmt.Errorf("has an empty, \".\" or \"..\" segment")
		}
	}
	if !hasQuery || rawQuery == "" {
		return p, nil, nil
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("has a malformed query after \"?\": write it as ?name=value&other=value, e.g. ?version=2")
	}
	return p, q, nil
}

// cleanObjectName accepts relative, clean paths inside the mount.
func cleanObjectName(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", fmt.Errorf("is required: the file name to write inside the mount")
	}
	if strings.ContainsAny(name, "\\\x00") {
		return "", fmt.Errorf("must not contain a backslash or NUL")
	}
	if path.IsAbs(name) {
		return "", fmt.Errorf("must be a relative path inside the mount")
	}
	clean := path.Clean(name)
	if clean != name || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("must be a relative path inside the mount")
	}
	for _, seg := range strings.Split(clean, "/") {
		if strings.HasPrefix(seg, "..") {
			return "", fmt.Errorf("must not have a path segment starting with \"..\" (the driver reserves those names)")
		}
	}
	return clean, nil
}

func normalizeMethod(m string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(m)) {
	case "", "GET":
		return "GET", nil
	case "POST":
		return "POST", nil
	case "PUT":
		return "PUT", nil
	}
	return "", fmt.Errorf("%q is not supported: use GET (default), POST or PUT", short(m))
}

func normalizeEncoding(enc string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", EncodingUTF8, "utf8":
		return EncodingUTF8, nil
	case EncodingBase64:
		return EncodingBase64, nil
	case EncodingHex:
		return EncodingHex, nil
	}
	return "", fmt.Errorf("%q is not supported: use utf-8 (default), base64 or hex", short(enc))
}

// checkFileDirConflicts refuses an object whose name is a directory of another
// (a/b and a/b/c cannot both be files).
func checkFileDirConflicts(objs []Object) error {
	index := make(map[string]int, len(objs))
	for i, o := range objs {
		index[o.ObjectName] = i
	}
	for i, o := range objs {
		for dir := path.Dir(o.ObjectName); dir != "."; dir = path.Dir(dir) {
			if j, ok := index[dir]; ok {
				return invalid(fmt.Sprintf("objects[%d].objectName", i),
					"%q is inside %q, which objects[%d] writes as a file: rename one of them", o.ObjectName, dir, j)
			}
		}
	}
	return nil
}
