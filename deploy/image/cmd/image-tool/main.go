// Command image-tool builds the provider's multi-platform OCI image from
// binaries that make build made, and pushes it, without a container
// engine (make image, make push).
//
//	image-tool build -out DIR -version V -revision R -ca FILE -bin linux/amd64=PATH -bin linux/arm64=PATH
//	image-tool push -layout DIR -image REGISTRY/REPOSITORY:TAG
//	image-tool registry -addr 127.0.0.1:5000    (a registry in memory, for rehearsing a release)
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/vaultazure/vault-azure-csi-provider/deploy/image"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = build(os.Args[2:])
	case "push":
		err = push(os.Args[2:])
	case "registry":
		err = serveRegistry(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image-tool:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: image-tool build|push|registry [flags] (see -h of each)")
	os.Exit(2)
}

// binaries collects -bin platform=path.
type binaries map[string]string

func (b binaries) String() string { return fmt.Sprint(map[string]string(b)) }
func (b binaries) Set(v string) error {
	p, path, ok := strings.Cut(v, "=")
	if !ok || p == "" || path == "" {
		return errors.New("want platform=path, e.g. linux/arm64=bin/linux-arm64/vault-azure-csi-provider")
	}
	b[p] = path
	return nil
}

func build(args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	out := fs.String("out", "", "directory of the OCI layout to write")
	opts := image.Options{Binaries: binaries{}}
	fs.Var(binaries(opts.Binaries), "bin", "platform=binary, repeatable")
	fs.StringVar(&opts.CABundle, "ca", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of trusted roots to put in the image")
	fs.StringVar(&opts.Version, "version", "", "release version")
	fs.StringVar(&opts.Revision, "revision", "", "commit")
	fs.StringVar(&opts.Source, "source", "https://github.com/vaultazure/vault-azure-csi-provider", "repository URL")
	created := fs.String("created", "", "creation time, Unix seconds (default: now)")
	fs.Parse(args)
	if *out == "" || opts.Version == "" {
		return errors.New("build: -out and -version are required")
	}
	opts.Created = time.Now()
	if *created != "" {
		s, err := strconv.ParseInt(*created, 10, 64)
		if err != nil {
			return fmt.Errorf("-created %q: %w", *created, err)
		}
		opts.Created = time.Unix(s, 0)
	}
	idx, err := image.Build(opts)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	if err := image.WriteLayout(*out, idx); err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: image index %s for %d platforms, version %s\n", *out, d, len(opts.Binaries), opts.Version)
	return nil
}

func push(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	dir := fs.String("layout", "", "OCI layout that build wrote")
	ref := fs.String("image", "", "where to push: registry/repository:tag")
	fs.Parse(args)
	if *dir == "" || *ref == "" {
		return errors.New("push: -layout and -image are required (make push IMAGE=registry/repository:tag)")
	}
	idx, err := image.ReadLayout(*dir)
	if err != nil {
		return err
	}
	pushed, err := image.Push(*ref, idx)
	if err != nil {
		return err
	}
	fmt.Printf("pushed %s\n  as %s\n", *ref, pushed)
	return nil
}

func serveRegistry(args []string) error {
	fs := flag.NewFlagSet("registry", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:5000", "address to serve on (plain HTTP: keep it on loopback)")
	fs.Parse(args)
	fmt.Printf("registry in memory on http://%s (stop with Ctrl-C)\n", *addr)
	srv := &http.Server{Addr: *addr, Handler: registry.New(), ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
