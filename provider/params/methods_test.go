package params

import (
	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/methods"
)

// testMethods are the provider's auth methods, which parse their own parameters.
var testMethods = func() auth.Methods {
	ms, err := methods.New(methods.Config{})
	if err != nil {
		panic(err)
	}
	return ms
}()

// azureParams returns p's Azure parameters.
func azureParams(p *Params) azure.Params {
	if a, ok := p.MethodParams.(*azure.Params); ok && a != nil {
		return *a
	}
	return azure.Params{}
}
