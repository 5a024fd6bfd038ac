// Command app is the test workload of the real-node tests: it prints the
// secret files and environment variables it is told to, as one JSON object
// per line on standard output (which the kubelet keeps in the pod's log),
// then prints a file again whenever its content changes, until SIGTERM.
//
//	app -file /mnt/secrets/db-password -env DB_PASSWORD
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Line is one line of output.
type Line struct {
	File    string `json:"file,omitempty"`
	Env     string `json:"env,omitempty"`
	Mode    string `json:"mode,omitempty"`
	Content string `json:"content"`
	Error   string `json:"error,omitempty"`
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var files, envs list
	flag.Var(&files, "file", "file to print, and print again on change (repeatable)")
	flag.Var(&envs, "env", "environment variable to print (repeatable)")
	poll := flag.Duration("poll", 500*time.Millisecond, "how often to look for changed files")
	flag.Parse()

	enc := json.NewEncoder(os.Stdout)
	for _, e := range envs {
		v, ok := os.LookupEnv(e)
		l := Line{Env: e, Content: v}
		if !ok {
			l.Error = "not set"
		}
		_ = enc.Encode(l)
	}
	last := map[string]Line{}
	check := func() {
		for _, f := range files {
			l := read(f)
			if prev, ok := last[f]; ok && prev == l {
				continue
			}
			last[f] = l
			_ = enc.Encode(l)
		}
	}
	check()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	t := time.NewTicker(*poll)
	defer t.Stop()
	for {
		select {
		case <-sig:
			return
		case <-t.C:
			check()
		}
	}
}

func read(path string) Line {
	l := Line{File: path}
	st, err := os.Stat(path)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	l.Mode = fmt.Sprintf("%04o", st.Mode().Perm())
	b, err := os.ReadFile(path)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	l.Content = string(b)
	return l
}
