package background

import (
	"fmt"
	"runtime"
)

// typeName describes a panic value without its content: runtime errors
// (index out of range, nil dereference) hold no data and are shown; any
// other value only by its type.
func typeName(r any) string {
	if e, ok := r.(runtime.Error); ok {
		return "runtime error: " + e.Error()
	}
	return fmt.Sprintf("%T", r)
}
