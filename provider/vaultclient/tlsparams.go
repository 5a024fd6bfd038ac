package vaultclient

import "fmt"

// pemShown describes a PEM parameter without repeating it.
func pemShown(pem string) string {
	return fmt.Sprintf("(%d bytes of PEM)", len(pem))
}
