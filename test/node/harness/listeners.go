package harness

import (
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Listener is a TCP socket in LISTEN state that a process of the node owns.
type Listener struct {
	PID     int
	Command string
	Addr    string // host:port
	IP      net.IP
}

// Listeners returns the TCP listening sockets of the node's processes
// (components, shims and containers: with the host's network, the pods'
// sockets are in the host's tables too).
func (c *Cluster) Listeners() ([]Listener, error) {
	owners := map[string]int{} // socket inode -> pid
	for _, pid := range c.Processes() {
		fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
		if err != nil {
			continue // gone
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") {
				owners[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = pid
			}
		}
	}
	var out []Listener
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			pid, ok := owners[f[9]]
			if !ok {
				continue
			}
			ip, port, err := parseProcAddr(f[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", table, err)
			}
			cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
			name := filepath.Base(strings.SplitN(string(cmd), "\x00", 2)[0])
			out = append(out, Listener{PID: pid, Command: name, IP: ip, Addr: net.JoinHostPort(ip.String(), strconv.Itoa(port))})
		}
	}
	return out, nil
}

// parseProcAddr decodes /proc/net/tcp's "0100007F:1F90" (little-endian
// 32-bit words) into an IP and a port.
func parseProcAddr(s string) (net.IP, int, error) {
	hostHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, fmt.Errorf("address %q", s)
	}
	raw, err := hex.DecodeString(hostHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, 0, fmt.Errorf("address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("port in %q: %w", s, err)
	}
	return net.IP(raw), int(port), nil
}
