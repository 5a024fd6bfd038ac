package server

import (
	"context"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vaultazure/vault-azure-csi-provider/auth/guard"
)

// recoverPanics turns a panic in a call into codes.Internal, logged with
// its stack, so one bad Mount cannot take down the provider that serves
// every pod of the node: the server keeps serving. The log and the answer
// carry the panic's message only for runtime errors (index out of range,
// nil dereference), which hold no data; otherwise only its type, since a
// panic value may hold anything, a token or a secret included. The stack
// shows code locations and raw argument words, not strings.
func (s *Server) recoverPanics(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		what := guard.Describe(r)
		klog.ErrorS(nil, "recovered from a panic; the provider keeps serving", "method", info.FullMethod, "panic", what, "stack", string(debug.Stack()))
		if info.FullMethod == mountMethod {
			s.obs.ObserveMount(codes.Internal.String(), time.Since(start))
		}
		resp, err = nil, status.Errorf(codes.Internal,
			"the provider failed internally in %s (%s): this is a bug, logged with a stack trace; the provider keeps serving and the kubelet will retry", info.FullMethod, what)
	}()
	return handler(ctx, req)
}

// mountMethod is the full gRPC name of Mount.
const mountMethod = pb.CSIDriverProvider_Mount_FullMethodName
