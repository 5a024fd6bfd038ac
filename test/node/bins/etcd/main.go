// Command etcd is etcd's own server main, built from go.etcd.io/etcd/server/v3
// as the Go module proxy serves it (Debian's etcd 3.4 is too old for the
// watch features of kube-apiserver v1.34).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
