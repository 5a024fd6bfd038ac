package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Close deletes the workloads (so the kubelet stops their containers and
// the driver unpublishes their volumes), stops every process in reverse
// order, removes leftover containers, mounts and cgroups, checks that no
// process of this node is left, and removes the directory.
func (c *Cluster) Close() error {
	if c.closed {
		return c.closeErr
	}
	c.closed = true
	c.closeErr = c.close()
	return c.closeErr
}

func (c *Cluster) close() error {
	var errs []error
	if c.Client != nil && c.byName["kubelet"] != nil {
		if err := c.deleteWorkloads(); err != nil {
			errs = append(errs, fmt.Errorf("deleting workloads: %w", err))
		}
	}
	if c.stopReg != nil {
		c.stopReg()
	}
	for _, name := range []string{"secrets-store-csi-driver", "kubelet"} {
		if p := c.byName[name]; p != nil {
			errs = append(errs, p.stop(20*time.Second))
		}
	}
	if c.byName["containerd"] != nil {
		errs = append(errs, c.removeContainers())
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].stop(20*time.Second))
	}
	errs = append(errs, c.unmountAll())
	if strays := c.Strays(); len(strays) > 0 {
		errs = append(errs, fmt.Errorf("processes of the node were left running (now killed): %s", strings.Join(strays, "; ")))
		c.killStrays()
	}
	errs = append(errs, c.removeCgroups())
	for _, d := range c.newHostDirs {
		errs = append(errs, os.RemoveAll(d))
	}
	if c.opts.KeepLogs != "" {
		errs = append(errs, c.keepLogs())
	}
	if c.Dir != "" {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}

// deleteWorkloads deletes DaemonSets, Deployments, ReplicaSets and then
// every pod, and waits until the pods are gone from the API: the kubelet
// removes a pod only after its containers stopped and volumes were
// unpublished.
func (c *Cluster) deleteWorkloads() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	nss, err := c.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, ns := range nss.Items {
		n := ns.Name
		_ = c.Client.AppsV1().DaemonSets(n).DeleteCollection(ctx, opts, metav1.ListOptions{})
		_ = c.Client.AppsV1().Deployments(n).DeleteCollection(ctx, opts, metav1.ListOptions{})
		_ = c.Client.AppsV1().ReplicaSets(n).DeleteCollection(ctx, opts, metav1.ListOptions{})
	}
	for _, ns := range nss.Items {
		if err := c.Client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			return err
		}
	}
	return waitFor(90*time.Second, 500*time.Millisecond, "every pod to go", func() (bool, error) {
		l, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(l.Items) == 0, nil
	})
}

// removeContainers kills and deletes any task containerd still runs in the
// kubelet's namespace (after a failed pod deletion), so the shims exit.
func (c *Cluster) removeContainers() error {
	ctr := func(args ...string) (string, error) {
		out, err := exec.Command(c.ctrBin, append([]string{"--address", c.containerd, "-n", "k8s.io"}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := ctr("tasks", "ls", "-q")
	if err != nil {
		return fmt.Errorf("ctr tasks ls: %v: %s", err, out)
	}
	var errs []error
	for _, id := range strings.Fields(out) {
		if o, err := ctr("tasks", "kill", "--all", "-s", "SIGKILL", id); err != nil && !strings.Contains(o, "not found") {
			errs = append(errs, fmt.Errorf("ctr tasks kill %s: %v: %s", id, err, o))
		}
	}
	for _, id := range strings.Fields(out) {
		_ = waitFor(10*time.Second, 200*time.Millisecond, "task "+id+" to stop", func() (bool, error) {
			o, err := ctr("tasks", "delete", id)
			return err == nil || strings.Contains(o, "not found"), nil
		})
	}
	return errors.Join(errs...)
}

// Mounts returns the mount points under the cluster's directory, deepest
// first.
func (c *Cluster) Mounts() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil || c.Dir == "" {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == c.Dir || strings.HasPrefix(mp, c.Dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll detaches every mount left under the directory (tmpfs of
// volumes the driver did not get to unpublish, the kubelet's own mounts,
// container root filesystems).
func (c *Cluster) unmountAll() error {
	var errs []error
	for _, mp := range c.Mounts() {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// Strays lists the processes running that belong to this node: any whose
// command line names the node's directory or that is in one of its pod
// cgroups (containers). It excludes the calling process. After Close it
// must be empty.
func (c *Cluster) Strays() []string {
	var out []string
	for _, pid := range c.Processes() {
		cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		out = append(out, fmt.Sprintf("pid %d: %s", pid, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")))
	}
	return out
}

// Processes returns the pids of the node's processes (see Strays).
func (c *Cluster) Processes() []int {
	if c.Dir == "" {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmd) == 0 { // gone, or a kernel thread
			continue
		}
		cg, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		inCgroup := c.cgroupRoot != "" && strings.Contains(string(cg), c.cgroupRoot+"/")
		if strings.Contains(string(cmd), c.Dir) || inCgroup {
			out = append(out, pid)
		}
	}
	return out
}

// killStrays SIGKILLs the processes Strays found (by pid, one by one).
func (c *Cluster) killStrays() {
	for _, pid := range c.Processes() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = waitFor(10*time.Second, 100*time.Millisecond, "stray processes to die", func() (bool, error) {
		return len(c.Processes()) == 0, nil
	})
}

// removeCgroups removes this run's cgroup trees, deepest first.
func (c *Cluster) removeCgroups() error {
	if c.cgroupRoot == "" {
		return nil
	}
	dirs, err := c.cgroupDirs()
	if err != nil {
		return err
	}
	var errs []error
	for _, root := range dirs {
		var all []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
		for _, d := range all {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// keepLogs copies the components' logs and the pods' logs to KeepLogs.
func (c *Cluster) keepLogs() error {
	dst := filepath.Join(c.opts.KeepLogs, filepath.Base(c.Dir))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, src := range []string{filepath.Join(c.Dir, "logs"), c.PodLogsDir} {
		if src == "" {
			continue
		}
		if out, err := exec.Command("cp", "-rL", src, dst).CombinedOutput(); err != nil {
			return fmt.Errorf("keeping logs: %v: %s", err, out)
		}
	}
	return nil
}

// CgroupsLeft returns this run's cgroup directories that still exist.
func (c *Cluster) CgroupsLeft() []string {
	if c.cgroupRoot == "" {
		return nil
	}
	dirs, _ := c.cgroupDirs()
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// Census counts the node's running processes: the components the harness
// started, the processes of the pods' containers (in the pod cgroups), and
// the others (containerd's shims).
func (c *Cluster) Census() (components, containers, others int) {
	mine := map[int]bool{}
	for _, p := range c.procs {
		if done, _ := p.exited(); !done {
			mine[p.cmd.Process.Pid] = true
		}
	}
	for _, pid := range c.Processes() {
		cg, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
		switch {
		case mine[pid]:
			components++
		case strings.Contains(string(cg), c.cgroupRoot+"/"):
			containers++
		default:
			others++
		}
	}
	return components, containers, others
}

// HostDirsLeft returns the directories outside the run's directory that
// the node created and that still exist.
func (c *Cluster) HostDirsLeft() []string {
	var out []string
	for _, d := range c.newHostDirs {
		if _, err := os.Lstat(d); err == nil {
			out = append(out, d)
		}
	}
	return out
}
