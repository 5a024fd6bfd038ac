package setup

import (
	"strings"
	"testing"
	"time"
)

func TestCheckMode(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantSync bool
		wantErr  string
	}{
		{"driver by default", Options{}, false, ""},
		{"driver", Options{Mode: ModeDriver, NodeIdentityNS: "ops"}, false, ""},
		{"sync controller", Options{Mode: ModeSyncController, SyncPoll: 12 * time.Hour}, true, ""},
		{"unknown mode", Options{Mode: "sidecar"}, false, `--mode "sidecar" is not one of driver, sync-controller`},
		{"node identity in the controller's pod", Options{Mode: ModeSyncController, SyncPoll: time.Hour, NodeIdentity: "ops:*"}, false, "the same for every SecretSync"},
		{"node identity namespaces too", Options{Mode: ModeSyncController, SyncPoll: time.Hour, NodeIdentityNS: "*"}, false, "cannot be used with --mode=sync-controller"},
		{"a controller that does not poll", Options{Mode: ModeSyncController}, false, "--sync-poll-interval must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sync, err := checkMode(&tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || sync != tc.wantSync {
				t.Fatalf("sync %v, err %v; want %v", sync, err, tc.wantSync)
			}
		})
	}
}
