package harness

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is a process the harness started: its output goes to a log file in
// the cluster's directory, it gets SIGKILL if the harness dies (Pdeathsig),
// and Stop ends it with SIGTERM, then SIGKILL.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	stdin   io.WriteCloser // kept open while the process should run
	done    chan struct{}
	err     error
}

// startProc runs bin with args and env (appended to a clean environment).
func (c *Cluster) startProc(name, bin string, args, env []string) (*proc, error) {
	logPath := filepath.Join(c.Dir, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = c.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, stdin: stdin, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	c.byName[name] = p
	return p, nil
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM and waits up to grace, then SIGKILLs the process.
// An exit caused by the SIGTERM counts as clean.
func (p *proc) stop(grace time.Duration) error {
	if done, _ := p.exited(); done {
		return nil
	}
	_ = p.stdin.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s ignored SIGTERM for %s and was killed", p.name, grace)
}

// tail returns the last n bytes of the process's log, for error messages.
func (p *proc) tail(n int64) string {
	return tailFile(p.logPath, n)
}

func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - n
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return string(buf)
}

// baseEnv is a minimal environment for the cluster's processes: no proxy,
// Vault, Azure or Kubernetes client settings leak in from the caller.
func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
}

// waitFor polls cond every interval until it returns true or an error, or
// timeout passes.
func waitFor(timeout, interval time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if errors.Is(err, errStopWaiting) {
			return err
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("timed out after %s waiting for %s: %w", timeout, what, last)
			}
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(interval)
	}
}

// errStopWaiting, wrapped into a condition's error, ends a wait at once.
var errStopWaiting = errors.New("stopped waiting")

// waitProc is waitFor that gives up early when p exits, with its log tail.
func waitProc(p *proc, timeout time.Duration, what string, cond func() (bool, error)) error {
	err := waitFor(timeout, 100*time.Millisecond, what, func() (bool, error) {
		if done, perr := p.exited(); done {
			return false, fmt.Errorf("%w: %s exited: %v", errStopWaiting, p.name, perr)
		}
		return cond()
	})
	if err != nil {
		return fmt.Errorf("%w\n--- %s log (tail) ---\n%s", err, p.name, p.tail(4000))
	}
	return nil
}
