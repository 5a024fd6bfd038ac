package harness

import (
	"fmt"
	"os"
	"path/filepath"
)

// Environment variables through which make e2e-cluster passes the inputs.
const (
	EnvBinDir       = "NODE_BIN_DIR"
	EnvProviderBin  = "PROVIDER_BIN"
	EnvDriverDeploy = "DRIVER_DEPLOY_DIR"
	EnvKeepLogs     = "NODE_KEEP_LOGS"
)

// OptionsFromEnv fills Options from the environment that make e2e-cluster
// sets; chartDir is the chart's directory. It says what is missing.
func OptionsFromEnv(chartDir string) (Options, error) {
	o := Options{
		BinDir:          os.Getenv(EnvBinDir),
		ProviderBin:     os.Getenv(EnvProviderBin),
		DriverDeployDir: os.Getenv(EnvDriverDeploy),
		KeepLogs:        os.Getenv(EnvKeepLogs),
	}
	var err error
	if o.ChartDir, err = filepath.Abs(chartDir); err != nil {
		return o, err
	}
	for name, v := range map[string]string{EnvBinDir: o.BinDir, EnvProviderBin: o.ProviderBin, EnvDriverDeploy: o.DriverDeployDir} {
		if v == "" {
			return o, fmt.Errorf("%s is not set: run the real-node tests with make e2e-cluster, which builds the binaries and sets it", name)
		}
	}
	return o, nil
}
