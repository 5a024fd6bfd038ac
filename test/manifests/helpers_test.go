package manifests

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// rendered is the chart rendered with some values and decoded strictly.
type rendered struct {
	objs  []runtime.Object
	kinds map[string]int
	notes string
}

func render(t *testing.T, valuesYAML string) *rendered {
	t.Helper()
	vals, err := Values(valuesYAML)
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	m, notes, err := RenderInstall(ChartDir, ReleaseName, ReleaseNamespace, vals, false)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{kinds: map[string]int{}, notes: notes}
	for _, doc := range SplitDocs("rendered", m) {
		obj, gvk, err := dec.Decode(doc)
		if err != nil {
			t.Fatalf("strict decoding: %v\n%s", err, doc.Text)
		}
		r.kinds[gvk.Kind]++
		if obj != nil {
			r.objs = append(r.objs, obj)
		}
	}
	return r
}

func (r *rendered) daemonSet(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	for _, o := range r.objs {
		if ds, ok := o.(*appsv1.DaemonSet); ok {
			return ds
		}
	}
	t.Fatal("no DaemonSet rendered")
	return nil
}

func (r *rendered) container(t *testing.T) *corev1.Container {
	t.Helper()
	ds := r.daemonSet(t)
	if n := len(ds.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	return &ds.Spec.Template.Spec.Containers[0]
}

func hasArg(c *corev1.Container, arg string) bool {
	for _, a := range c.Args {
		if a == arg {
			return true
		}
	}
	return false
}
