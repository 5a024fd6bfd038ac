package e2e

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"
)

// Runs last (file and test order): tearing the node down stops every
// process it started — components, containerd's shims, the containers of
// the pods — and leaves no mount, cgroup or file behind.
func TestTeardownLeavesNothing(t *testing.T) {
	needNode(t)
	pids := node.Processes()
	// etcd, apiserver, controller-manager, scheduler, containerd, kubelet,
	// driver, world; the provider pod's pause and provider; a shim.
	components, containers, shims := node.Census()
	if components != 8 || containers < 2 || shims < 1 {
		t.Fatalf("before teardown: %d components, %d container processes, %d others (shims); want 8, >= 2, >= 1: the check would prove nothing",
			components, containers, shims)
	}
	refused, err := node.World.Refused(context.Background())
	if err != nil || len(refused) > 0 {
		t.Errorf("something tried to reach real hosts through the world's proxy: %v %v", refused, err)
	}
	dir := node.Dir
	if err := node.Close(); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			if cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); len(cmd) > 0 {
				t.Errorf("process %d (%q) of the node is still running", pid, cmd)
			}
		}
	}
	if s := node.Strays(); len(s) > 0 {
		t.Errorf("stray processes: %v", s)
	}
	if m := node.Mounts(); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	if cg := node.CgroupsLeft(); len(cg) > 0 {
		t.Errorf("cgroups left: %v", cg)
	}
	if left := node.HostDirsLeft(); len(left) > 0 {
		t.Errorf("directories the node created outside its own are left: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the node's directory %s is still there (%v)", dir, err)
	}
	t.Logf("%d processes stopped; no process, mount, cgroup or file of the node left", len(pids))
}
