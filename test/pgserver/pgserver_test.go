package pgserver

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"
)

// Required reports whether the tests must have a server: as root on Linux
// (CI, where make node-deps installs it); elsewhere they are skipped.
func required() bool { return runtime.GOOS == "linux" && os.Geteuid() == 0 }

func TestServer(t *testing.T) {
	if _, err := Binaries(); err != nil {
		if required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ping(ctx, s.User, s.Password); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx, s.User, "wrong"); err == nil {
		t.Error("logged in with a wrong password")
	}
}
