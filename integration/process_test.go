//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rabbitscale/rabbitscale/integration/harness"
)

// process is a program a test runs as its own process: rabbitscale itself,
// or kube-controller-manager.
type process struct {
	*exec.Cmd
	name string
	log  string
}

// startProcess runs bin with args, its output in dir/name.log. The process
// is killed when the test ends, and by the kernel if the test binary dies
// first, so no run leaves one behind. When the test has failed, the log's
// tail goes into the test output.
func startProcess(t testing.TB, dir, name, bin string, args ...string) *process {
	t.Helper()
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &process{Cmd: cmd, name: name, log: logFile.Name()}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, harness.Tail([]byte(p.Output()), 60))
		}
	})
	return p
}

// Output is what the process has written so far.
func (p *process) Output() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// freePort returns a loopback port nothing listens on, for a process that
// must be told its port up front.
func freePort(t testing.TB) int {
	t.Helper()
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}
