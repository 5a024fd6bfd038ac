package harness

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// EventsFor returns "Reason: message" of every event about an object,
// oldest first, as `kubectl describe` shows them.
func (c *Cluster) EventsFor(ctx context.Context, namespace, name string) ([]string, error) {
	l, err := c.Client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String(),
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(l.Items, func(i, j int) bool { return eventTime(&l.Items[i]).Before(eventTime(&l.Items[j])) })
	var out []string
	for _, e := range l.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out, nil
}

func eventTime(e *corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	return e.EventTime.Time
}

// WaitPodRunning waits until every container of a pod runs and returns it.
// It fails early, with the pod's events, when the pod fails.
func (c *Cluster) WaitPodRunning(ctx context.Context, namespace, name string, timeout time.Duration) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := waitFor(timeout, 250*time.Millisecond, "pod "+namespace+"/"+name+" to run", func() (bool, error) {
		p, err := c.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		if p.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("%w: pod failed: %s", errStopWaiting, p.Status.Message)
		}
		if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
			return false, nil
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running == nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		ev, _ := c.EventsFor(ctx, namespace, name)
		return nil, fmt.Errorf("%w\nevents:\n  %s", err, strings.Join(ev, "\n  "))
	}
	return pod, nil
}

// WaitEvent waits for an event about the object whose text contains want,
// and returns it.
func (c *Cluster) WaitEvent(ctx context.Context, namespace, name, want string, timeout time.Duration) (string, error) {
	var found string
	var seen []string
	err := waitFor(timeout, 250*time.Millisecond, "an event about "+namespace+"/"+name+" with "+want, func() (bool, error) {
		ev, err := c.EventsFor(ctx, namespace, name)
		if err != nil {
			return false, err
		}
		seen = ev
		for _, e := range ev {
			if strings.Contains(e, want) {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return "", fmt.Errorf("%w\nevents:\n  %s", err, strings.Join(seen, "\n  "))
	}
	return found, nil
}

// DeletePod deletes a pod and waits until it is gone from the API (the
// kubelet has stopped its containers and unpublished its volumes).
func (c *Cluster) DeletePod(ctx context.Context, namespace, name string) error {
	err := c.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return waitFor(2*time.Minute, 250*time.Millisecond, "pod "+namespace+"/"+name+" to go", func() (bool, error) {
		_, err := c.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// EnsureNamespace creates a namespace if it does not exist.
func (c *Cluster) EnsureNamespace(ctx context.Context, name string) error {
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// EnsureServiceAccount creates a service account if it does not exist.
func (c *Cluster) EnsureServiceAccount(ctx context.Context, namespace, name string) error {
	if err := c.EnsureNamespace(ctx, namespace); err != nil {
		return err
	}
	_, err := c.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// VolumeDir is where the kubelet publishes a pod's CSI volume on the node.
func (c *Cluster) VolumeDir(pod *corev1.Pod, volume string) string {
	return filepath.Join(c.KubeletRoot, "pods", string(pod.UID), "volumes", "kubernetes.io~csi", volume, "mount")
}

// ContainerLog returns the lines a container wrote (stdout and stderr) in
// its current run, read from the kubelet's pod log directory (kubectl logs
// would make the apiserver dial the node's address).
func (c *Cluster) ContainerLog(pod *corev1.Pod, container string) ([]string, error) {
	dir := filepath.Join(c.PodLogsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), container)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	// The newest run's file: <restart count>.log.
	var newest string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") && (newest == "" || logRun(e.Name()) > logRun(newest)) {
			newest = e.Name()
		}
	}
	if newest == "" {
		return nil, fmt.Errorf("no log file in %s", dir)
	}
	return readCRILog(filepath.Join(dir, newest))
}

func logRun(name string) int {
	var n int
	fmt.Sscanf(name, "%d.log", &n)
	return n
}

// readCRILog parses the CRI log format: "<time> <stream> <P|F> <text>";
// partial (P) lines are joined with the rest of their line.
func readCRILog(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	var partial strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), " ", 4)
		if len(parts) < 3 {
			continue
		}
		text := ""
		if len(parts) == 4 {
			text = parts[3]
		}
		partial.WriteString(text)
		if parts[2] == "P" {
			continue
		}
		out = append(out, partial.String())
		partial.Reset()
	}
	return out, sc.Err()
}
