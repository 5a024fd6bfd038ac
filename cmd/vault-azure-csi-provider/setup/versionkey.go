package setup

import (
	"bytes"
	"fmt"
	"os"

	"k8s.io/klog/v2"
)

// minVersionKeyBytes is the shortest --version-key-file content accepted:
// the key must be as hard to guess as the secrets whose versions it hides.
const minVersionKeyBytes = 32

// loadVersionKey reads the object-version key from path (surrounding white
// space dropped); an empty path means no key file. Errors never contain the
// file's content.
func loadVersionKey(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading --version-key-file: %w", err)
	}
	key := bytes.TrimSpace(b)
	if len(key) < minVersionKeyBytes {
		return nil, fmt.Errorf("--version-key-file %s holds %d bytes, fewer than %d: put a random key into it, e.g. head -c 48 /dev/urandom | base64",
			path, len(key), minVersionKeyBytes)
	}
	return key, nil
}

// LogVersionKey says at startup whether object versions survive a restart.
func LogVersionKey(path string) {
	if path != "" {
		klog.InfoS("object versions are keyed by --version-key-file: they stay the same across restarts and on every node that has the same key", "file", path)
		return
	}
	klog.InfoS("WARNING: no --version-key-file: object versions are keyed by a random key of this process and change when the provider restarts or is upgraded; " +
		"with rotation enabled the driver then rewrites every pod's files and synced Secrets once (the Helm chart sets the flag)")
}

// LogDynamic says at startup how long the dynamic secrets kept for pods
// live, and what the provider knows of the pods.
func LogDynamic(o *Options) {
	if !o.DynamicReuse {
		return
	}
	liveness := "the kubelet's pod-resources API at " + o.PodsSocket
	if o.PodsSocket == "" {
		liveness = "unknown (no --kubelet-pod-resources-socket): a pod's secrets are dropped, never revoked, " + o.DynamicIdle.String() + " after its last Mount"
	}
	klog.InfoS("dynamic secrets are kept for their pods and renewed, with the Vault tokens that created them, while the pods run; "+
		"without the driver's rotation a credential lasts at most the lease's max_ttl and the role's token_max_ttl, whichever ends first",
		"podLiveness", liveness, "stateFile", o.StateFile)
}
