package guard

import (
	"errors"
	"strings"
	"testing"
)

func TestCallTurnsPanicsIntoErrors(t *testing.T) {
	_, err := Call("a read", func() (int, error) { panic("token hvs.secret") })
	var pe *PanicError
	if !errors.As(err, &pe) || strings.Contains(err.Error(), "hvs.secret") || !strings.Contains(err.Error(), "of type string") {
		t.Fatalf("err = %v", err)
	}
	_, err = Call("a read", func() (int, error) {
		var m map[string]int
		m["x"]++
		var s []int
		return s[3], nil
	})
	if !errors.As(err, &pe) || !strings.Contains(pe.What, "runtime error") {
		t.Fatalf("err = %v", err)
	}
	done := make(chan struct{})
	Go("background", func() { defer close(done); panic(errors.New("boom")) })
	<-done
}
