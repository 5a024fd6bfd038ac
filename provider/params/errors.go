package params

import "fmt"

// Error is a parameter that is missing or invalid. Its message names the
// parameter and says how to fix it.
type Error struct {
	Parameter string
	Problem   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("SecretProviderClass parameter %s %s", e.Parameter, e.Problem)
}

func invalid(parameter, format string, args ...any) *Error {
	return &Error{Parameter: parameter, Problem: fmt.Sprintf(format, args...)}
}
