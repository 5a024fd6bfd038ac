package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
)

// fieldManager owns the fields the harness applies.
const fieldManager = "vaultazure-node-e2e"

// restMapper maps kinds to resources, refreshing discovery once when a kind
// is unknown (a CRD applied a moment ago).
type restMapper struct {
	mu sync.Mutex
	m  *restmapper.DeferredDiscoveryRESTMapper
}

func (c *Cluster) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	if c.mapper == nil {
		c.mapper = &restMapper{m: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))}
	}
	c.mapper.mu.Lock()
	defer c.mapper.mu.Unlock()
	m, err := c.mapper.m.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		c.mapper.m.Reset()
		m, err = c.mapper.m.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

// Decode splits a multi-document YAML (or JSON) text into objects.
func Decode(text []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(text), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// Apply creates or updates every object of a YAML text (server-side apply).
func (c *Cluster) Apply(ctx context.Context, text []byte) error {
	objs, err := Decode(text)
	if err != nil {
		return fmt.Errorf("decoding manifests: %w", err)
	}
	for _, o := range objs {
		if err := c.ApplyObject(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// ApplyFile applies a YAML file.
func (c *Cluster) ApplyFile(ctx context.Context, path string) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, text); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ApplyObject creates or updates one object (server-side apply).
func (c *Cluster) ApplyObject(ctx context.Context, o *unstructured.Unstructured) error {
	gvk := o.GroupVersionKind()
	m, err := c.mapping(gvk)
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
	}
	ri := c.Dynamic.Resource(m.Resource)
	var res interface {
		Apply(context.Context, string, *unstructured.Unstructured, metav1.ApplyOptions, ...string) (*unstructured.Unstructured, error)
	} = ri
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := o.GetNamespace()
		if ns == "" {
			ns = "default"
			o.SetNamespace(ns)
		}
		res = ri.Namespace(ns)
	}
	if _, err := res.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		return fmt.Errorf("applying %s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
	}
	return nil
}
