// Package vaultfront is a thin, in-process HTTP server that speaks HashiCorp
// Vault's HTTP API and routes requests to the real HashiCorp backends
// (vault-plugin-secrets-kv, vault-plugin-auth-azure, vault-plugin-auth-jwt)
// used as libraries through logical.Backend.HandleRequest over
// logical.InmemStorage. It exists so integration tests can run a real Vault
// client (github.com/hashicorp/vault/api) against real backend code without
// a Vault binary.
//
// The front owns what Vault core owns: tokens (TTL, renewal through the
// issuing auth backend, revocation, use counts), ACL policies in Vault HCL,
// namespaces (X-Vault-Namespace or a path prefix), the mount table, leases
// for dynamic secrets, and the sys/ endpoints clients rely on (health,
// seal-status, mounts, auth, policies, leases, namespaces,
// capabilities-self, internal/ui/mounts). It also offers a small dynamic
// secrets engine of type "pki" that issues real X.509 certificates from its
// own CA under leases.
//
// Everything can be set up from Go (EnableSecrets, EnableAuth, PutPolicy,
// CreateNamespace) or over HTTP with the root token, as against real Vault.
// Tests can seal the server, inject faults (slow, failing, every Nth or at
// random, with Retry-After), forget every token, read request counters,
// observe every request, and list every token issued and JWT presented at
// login (to search logs for leaks).
//
// Known differences from Vault: no response wrapping (refused with 400), no
// identity store beyond a stable entity id per alias, no token bound CIDRs,
// no allowed/denied/required parameters in policies, no batch tokens, no
// sys/mounts/<path>/tune, and the pki engine is a small subset of Vault's
// (default key type "ec" rather than "rsa", always leased).
package vaultfront
