package setup

import (
	"bytes"
	"fmt"
	"os"

	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/provider"
)

// minVersionKeyBytes is the shortest --version-key-file content accepted:
// the key must be as hard to guess as the secrets whose versions it hides.
const minVersionKeyBytes = 32

// loadVersionKey reads the object-version key from the file at path or
// the environment variable env (surrounding white space dropped); neither
// means no key. Errors never contain the key.
func loadVersionKey(path, env string) ([]byte, error) {
	var b []byte
	var from string
	switch {
	case path != "" && env != "":
		return nil, fmt.Errorf("--version-key-file and --version-key-env are exclusive: set one")
	case path != "":
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("reading --version-key-file: %w", err)
		}
		from = "--version-key-file " + path
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return nil, fmt.Errorf("--version-key-env %s: the environment has no such variable (env valueFrom secretKeyRef in the container)", env)
		}
		b, from = []byte(v), "--version-key-env "+env
	default:
		return nil, nil
	}
	key := bytes.TrimSpace(b)
	if len(key) < minVersionKeyBytes {
		return nil, fmt.Errorf("%s holds %d bytes, fewer than %d: put a random key into it, e.g. head -c 48 /dev/urandom | base64",
			from, len(key), minVersionKeyBytes)
	}
	return key, nil
}

// LogVersionKey says at startup whether object versions survive a restart.
func LogVersionKey(path, env string) {
	switch {
	case path != "":
		klog.InfoS("object versions are keyed by --version-key-file: they stay the same across restarts and on every node that has the same key", "file", path)
		return
	case env != "":
		klog.InfoS("object versions are keyed by --version-key-env: they stay the same across restarts and in every provider that has the same key", "env", env)
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
	if o.Mode == ModeSyncController {
		klog.InfoS("sync-controller mode: dynamic secrets are kept per SecretSync workload (namespace, service account, class) and renewed while it polls; "+
			"one that would not outlive the next poll is replaced at a poll, and one not asked for in two poll intervals and a margin (another, at most an hour) is revoked",
			"pollInterval", o.SyncPoll, "revokeAfter", provider.SyncRevokeAfter(o.SyncPoll), "stateFile", o.StateFile)
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
