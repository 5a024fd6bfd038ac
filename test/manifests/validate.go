package manifests

import (
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
	spcv1 "sigs.k8s.io/secrets-store-csi-driver/apis/v1"
	"sigs.k8s.io/yaml"
)

// Doc is one YAML document of a multi-document manifest.
type Doc struct {
	Source string // the "# Source:" template or the file name
	Index  int
	Text   string
}

// SplitDocs splits a multi-document YAML stream, dropping empty documents.
func SplitDocs(source, text string) []Doc {
	var out []Doc
	for i, part := range strings.Split("\n"+text, "\n---") {
		src := source
		for _, line := range strings.Split(part, "\n") {
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				src = s
			}
		}
		if strings.TrimSpace(stripComments(part)) == "" {
			continue
		}
		out = append(out, Doc{Source: src, Index: i, Text: part})
	}
	return out
}

func stripComments(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// Decoder decodes manifests strictly: unknown or duplicate fields and
// unregistered kinds are errors.
type Decoder struct {
	scheme *runtime.Scheme
	strict *kjson.Serializer
}

// NewDecoder knows the built-in Kubernetes kinds and SecretProviderClass.
func NewDecoder() (*Decoder, error) {
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := spcv1.AddToScheme(s); err != nil {
		return nil, err
	}
	ser := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, s, s, kjson.SerializerOptions{Yaml: true, Strict: true})
	return &Decoder{scheme: s, strict: ser}, nil
}

// Decode decodes one document into its typed object.
func (d *Decoder) Decode(doc Doc) (runtime.Object, *schema.GroupVersionKind, error) {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal([]byte(doc.Text), &tm); err != nil {
		return nil, nil, fmt.Errorf("%s: not YAML: %w", doc.Source, err)
	}
	if tm.APIVersion == serviceMonitorAPIVersion && tm.Kind == "ServiceMonitor" {
		sm := &ServiceMonitor{}
		if err := yaml.UnmarshalStrict([]byte(doc.Text), sm); err != nil {
			return nil, nil, fmt.Errorf("%s: ServiceMonitor: %w", doc.Source, err)
		}
		gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
		return nil, &gvk, nil
	}
	if tm.APIVersion == SecretSyncAPIVersion && tm.Kind == "SecretSync" {
		ss := &SecretSync{}
		if err := yaml.UnmarshalStrict([]byte(doc.Text), ss); err != nil {
			return nil, nil, fmt.Errorf("%s: SecretSync: %w", doc.Source, err)
		}
		if err := ss.validate(); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", doc.Source, err)
		}
		gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
		return ss, &gvk, nil
	}
	obj, gvk, err := d.strict.Decode([]byte(doc.Text), nil, nil)
	if err != nil {
		return nil, gvk, fmt.Errorf("%s: %w", doc.Source, err)
	}
	return obj, gvk, nil
}

// DecodeFile decodes every document of a YAML file.
func (d *Decoder) DecodeFile(path string) ([]runtime.Object, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var objs []runtime.Object
	for _, doc := range SplitDocs(path, string(raw)) {
		obj, _, err := d.Decode(doc)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
	return objs, nil
}
