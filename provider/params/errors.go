package params

import "github.com/vaultazure/vault-azure-csi-provider/auth"

// Error is a parameter that is missing or invalid. Its message names the
// parameter and says how to fix it. The auth methods' parameters fail the
// same way, so it is auth's type.
type Error = auth.ParameterError

func invalid(parameter, format string, args ...any) *Error {
	return auth.InvalidParameter(parameter, format, args...)
}
