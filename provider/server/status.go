package server

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/dynamic"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
	"github.com/vaultazure/vault-azure-csi-provider/provider/vaultclient"
)

// toStatus maps a Mount failure to a gRPC status with its full explanation.
func toStatus(err error) *status.Status {
	var (
		pe *params.Error
		ae *auth.Error
		se *secrets.Error
		ce *provider.ContentError
		ze *provider.SizeError
		de *secrets.DecodeError
		ke *dynamic.CapacityError
		te *vaultclient.TooLargeError
	)
	code := codes.Internal
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.As(err, &pe):
		code = codes.InvalidArgument
	case errors.As(err, &te):
		code = codes.ResourceExhausted
	case errors.As(err, &ae):
		code = authCode(ae.Kind)
	case errors.As(err, &se):
		code = httpCode(se.Status)
	case errors.As(err, &de):
		code = codes.InvalidArgument
	case errors.As(err, &ce):
		code = codes.NotFound
	case errors.As(err, &ze), errors.As(err, &ke):
		code = codes.ResourceExhausted
	}
	return status.New(code, err.Error())
}

func authCode(k auth.Kind) codes.Code {
	switch k {
	case auth.KindConfig:
		return codes.FailedPrecondition
	case auth.KindCredential:
		return codes.Unauthenticated
	case auth.KindDenied:
		return codes.PermissionDenied
	default:
		return codes.Unavailable
	}
}

// httpCode maps Vault's HTTP status to the gRPC code of the Mount's failure
// (the table is in README's "Failure behaviour").
func httpCode(s int) codes.Code {
	switch {
	case s == 0, s == http.StatusTooManyRequests, s >= 500:
		return codes.Unavailable
	case s == http.StatusBadRequest:
		return codes.InvalidArgument
	case s == http.StatusUnauthorized:
		return codes.Unauthenticated
	case s == http.StatusForbidden:
		return codes.PermissionDenied
	case s == http.StatusNotFound:
		return codes.NotFound
	case s == http.StatusMethodNotAllowed, s == http.StatusPreconditionFailed:
		return codes.FailedPrecondition
	default:
		return codes.Unknown
	}
}
