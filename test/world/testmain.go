package world

import (
	"fmt"
	"os"
	"testing"
)

// RunTests is the body of a TestMain whose tests share one world: it starts
// the world, hands it to setup (which may start providers, and returns what
// to do after the tests, or nil), runs the tests, and fails the run if
// anything tried to reach a real host.
func RunTests(m *testing.M, setup func(*World) (after func() error, err error)) int {
	w, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the world:", err)
		return 1
	}
	defer w.Close()
	after, err := setup(w)
	if err != nil {
		fmt.Fprintln(os.Stderr, "setting up the tests' world:", err)
		return 1
	}
	code := m.Run()
	if after != nil {
		if err := after(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if refused := w.Proxy.Refused(); len(refused) > 0 {
		fmt.Fprintln(os.Stderr, "something tried to reach real hosts:", refused)
		code = 1
	}
	return code
}
