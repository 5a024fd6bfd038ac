package azureemu

// RemoveFederatedCredential deletes the identity's federated credential for
// issuer and subject, as `az identity federated-credential delete` does:
// Entra refuses the next exchange of such a token.
func (e *Emulator) RemoveFederatedCredential(clientID, issuer, subject string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	kept := e.feds[clientID][:0:0]
	for _, f := range e.feds[clientID] {
		if f.issuer != issuer || f.subject != subject {
			kept = append(kept, f)
		}
	}
	e.feds[clientID] = kept
}
