// Package pgserver runs a real PostgreSQL server for the tests: Debian's
// postgresql package, a fresh cluster in a temporary directory, listening
// on 127.0.0.1 only, with a superuser that the test world's database engine
// uses to create, extend and drop the credentials it leases, and that the
// tests log in with as apps do.
package pgserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running PostgreSQL server.
type Server struct {
	Host     string
	Port     int
	User     string // superuser
	Password string
	dir      string
	cmd      *exec.Cmd
	done     chan struct{}
	log      *os.File
}

// Binaries returns the directory of the server's binaries (initdb,
// postgres), or why there is none.
func Binaries() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(found) == 0 {
		return "", errors.New("no PostgreSQL server: install Debian's postgresql package (make node-deps does)")
	}
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	return filepath.Dir(found[0]), nil
}

func version(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(bin))))
	return v
}

// Start initialises a cluster and starts the server.
func Start() (*Server, error) {
	bin, err := Binaries()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	// As root the server runs as postgres, which must reach its files: in
	// the system's /tmp, not in a TMPDIR that may be private to root.
	base := ""
	if cred != nil {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "pgserver-")
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", User: "vaultadmin", Password: randomHex(16), dir: dir, done: make(chan struct{})}
	fail := func(err error) (*Server, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(s.Password+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Chown(p, int(cred.Uid), int(cred.Gid))
		}); err != nil {
			return fail(err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", s.User, "--pwfile="+pw, "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	if s.Port, err = freePort(); err != nil {
		return fail(err)
	}
	if s.log, err = os.Create(filepath.Join(dir, "postgres.log")); err != nil {
		return fail(err)
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.Port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=16MB", "-c", "max_connections=200")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.log.Close()
		return fail(fmt.Errorf("starting postgres: %w", err))
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(30 * time.Second); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// credential runs the server as the postgres user when this process is
// root (PostgreSQL refuses to run as root); nil: as this process's user.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL must not run as root and there is no postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.Ping(ctx, s.User, s.Password)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited: %s", s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %s: %v\n%s", timeout, err, s.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is a connection URL for user and password.
func (s *Server) URL(user, password string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String()
}

// VaultConnectionURL is the connection_url for Vault's database engine,
// with its {{username}} and {{password}} templates.
func (s *Server) VaultConnectionURL() string {
	return fmt.Sprintf("postgresql://{{username}}:{{password}}@%s/postgres?sslmode=disable", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
}

// Ping logs in as user with password and runs a query, as an app would.
func (s *Server) Ping(ctx context.Context, user, password string) error {
	return Ping(ctx, s.URL(user, password))
}

// Ping logs in with the connection URL and runs a query.
func Ping(ctx context.Context, connURL string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// Logs returns the server's log.
func (s *Server) Logs() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	return string(b)
}

// Close stops the server (fast shutdown: clients are disconnected) and
// removes its files.
func (s *Server) Close() error {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.log != nil {
		s.log.Close()
	}
	return os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
