package world

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is what Linux's /proc/<pid>/status says of a process's memory, in
// bytes.
type Memory struct {
	RSS  int64 // VmRSS
	Peak int64 // VmHWM: the largest RSS so far
	Anon int64 // RssAnon: heap, stacks, runtime data
	File int64 // RssFile: pages of the binary and other files
}

// MemoryOf reads pid's memory from /proc/<pid>/status.
func MemoryOf(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	fields := map[string]*int64{"VmRSS:": &m.RSS, "VmHWM:": &m.Peak, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || fields[f[0]] == nil {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("/proc/%d/status: %q: %w", pid, line, err)
		}
		*fields[f[0]] = kb << 10
	}
	if m.RSS == 0 {
		return Memory{}, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return m, nil
}
