package manifests

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var productRoot = filepath.Join("..", "..")

// TestDockerfileBuildsWhatMakeBuildBuilds checks the Dockerfile without a
// Docker engine: it runs make build (the flags CI uses), copies every
// directory the binary's packages live in, and ships the binary it built.
func TestDockerfileBuildsWhatMakeBuildBuilds(t *testing.T) {
	df := readFile(t, filepath.Join(productRoot, "Dockerfile"))
	if !regexp.MustCompile(`(?m)^RUN .*\n?.*make build VERSION=\$VERSION`).MatchString(df) {
		t.Error("the Dockerfile must build with `make build VERSION=$VERSION`")
	}
	mk := readFile(t, filepath.Join(productRoot, "Makefile"))
	for _, flag := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "$(LDFLAGS)"`, "-X main.version=$(VERSION)"} {
		if !strings.Contains(mk, flag) {
			t.Errorf("make build lacks %s", flag)
		}
	}
	copied := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^COPY (\S+) `).FindAllStringSubmatch(df, -1) {
		copied[strings.TrimPrefix(m[1], "./")] = true
	}
	ignored := strings.Fields(readFile(t, filepath.Join(productRoot, ".dockerignore")))
	for _, dir := range binaryDirs(t) {
		if !copied[dir] {
			t.Errorf("the binary's packages in %s/ are not copied into the build stage", dir)
		}
		for _, ig := range ignored {
			if ig == dir {
				t.Errorf(".dockerignore excludes %s/, which the binary needs", dir)
			}
		}
	}
	for _, want := range []string{"FROM gcr.io/distroless/static", "COPY --from=build /src/bin/vault-azure-csi-provider /bin/vault-azure-csi-provider",
		`ENTRYPOINT ["/bin/vault-azure-csi-provider"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
}

// binaryDirs lists the product's top-level directories that hold packages of
// the provider binary.
func binaryDirs(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./cmd/vault-azure-csi-provider")
	cmd.Dir = productRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/vaultazure/vault-azure-csi-provider/"
	seen := map[string]bool{}
	var dirs []string
	for _, p := range strings.Fields(string(out)) {
		if rel, ok := strings.CutPrefix(p, mod); ok {
			top := strings.SplitN(rel, "/", 2)[0]
			if !seen[top] {
				seen[top] = true
				dirs = append(dirs, top)
			}
		}
	}
	if len(dirs) < 3 {
		t.Fatalf("the binary's own packages span %v: go list found too little", dirs)
	}
	return dirs
}

// TestMakeBuildIsStaticWithVersion checks the binary make build produced
// (PROVIDER_BIN, set by make manifests-test): static, with its version.
func TestMakeBuildIsStaticWithVersion(t *testing.T) {
	bin := os.Getenv("PROVIDER_BIN")
	if bin == "" {
		t.Skip("PROVIDER_BIN is not set: run through make manifests-test")
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (program header %v): build with CGO_ENABLED=0", bin, p.Type)
		}
	}
	if f.Section(".debug_info") != nil {
		t.Errorf("%s carries DWARF: build with -ldflags -s -w", bin)
	}
	out, err := exec.Command(bin, "--version").Output()
	if v := strings.TrimSpace(string(out)); err != nil || v == "" || v == "dev" {
		t.Errorf("--version = %q, %v: make build injects the version", v, err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
