package harness

import "testing"

func TestParseProcAddr(t *testing.T) {
	for _, c := range []struct {
		in, ip string
		port   int
	}{
		{"0100007F:1F90", "127.0.0.1", 8080},
		{"00000000:0016", "0.0.0.0", 22},
		{"00000000000000000000000001000000:0035", "::1", 53},
		{"0000000000000000FFFF00000100007F:01BB", "127.0.0.1", 443},
	} {
		ip, port, err := parseProcAddr(c.in)
		if err != nil || ip.String() != c.ip || port != c.port {
			t.Errorf("parseProcAddr(%q) = %v, %d, %v; want %s, %d", c.in, ip, port, err, c.ip, c.port)
		}
	}
	for _, bad := range []string{"", "0100007F", "zz:1F90", "0100007F:zz"} {
		if _, _, err := parseProcAddr(bad); err == nil {
			t.Errorf("parseProcAddr(%q) accepted", bad)
		}
	}
}
