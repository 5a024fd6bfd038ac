package auth

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
)

// ParameterError is a SecretProviderClass parameter that cannot be used:
// which one, and what to do about it. It never quotes more than a short
// prefix of the value (see Short).
type ParameterError struct {
	Parameter string
	Problem   string
}

func (e *ParameterError) Error() string {
	return fmt.Sprintf("SecretProviderClass parameter %s %s", e.Parameter, e.Problem)
}

// InvalidParameter returns a *ParameterError for parameter.
func InvalidParameter(parameter, format string, args ...any) *ParameterError {
	return &ParameterError{Parameter: parameter, Problem: fmt.Sprintf(format, args...)}
}

// BoolParameter reads an optional boolean parameter (absent or blank: false).
func BoolParameter(attrs map[string]string, name string) (bool, error) {
	raw, ok := attrs[name]
	if !ok || strings.TrimSpace(raw) == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(strings.TrimSpace(raw))
	if err != nil {
		return false, InvalidParameter(name, "%q is not a boolean: use \"true\" or \"false\"", Short(raw))
	}
	return v, nil
}

// maxQuotedBytes bounds the user input quoted in a parameter error.
const maxQuotedBytes = 64

// Short keeps user input in error messages readable.
func Short(s string) string { return retry.Truncate(s, maxQuotedBytes) }
