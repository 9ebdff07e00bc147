package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartStatusStop runs the launcher as `make clickhouse` does, on ports of
// its own: the server answers over HTTP, a second start does not start a
// second server, and stop frees both ports.
func TestStartStatusStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a ClickHouse server")
	}
	bin := filepath.Join(t.TempDir(), "chlocal")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	o := options{dir: dir, tcpPort: 19950, httpPort: 18950}
	run := func(args ...string) (string, error) {
		all := append(args, "-dir", dir, "-tcp-port", strconv.Itoa(o.tcpPort), "-http-port", strconv.Itoa(o.httpPort))
		out, err := exec.Command(bin, all...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = run("stop") })

	if out, err := run("start"); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	v, err := o.query("SELECT version()", 5*time.Second)
	if err != nil || !strings.HasPrefix(v, "26.7.") {
		t.Fatalf("version over HTTP = %q, %v; want 26.7.x", v, err)
	}
	pid, alive := readPid(filepath.Join(dir, "server.pid"))
	if !alive {
		t.Fatal("no live pid file after start")
	}

	out, err := run("start")
	if err != nil || !strings.Contains(out, "already running") {
		t.Fatalf("second start: %v\n%s", err, out)
	}
	if pid2, _ := readPid(filepath.Join(dir, "server.pid")); pid2 != pid {
		t.Fatalf("second start replaced pid %d with %d", pid, pid2)
	}
	if out, err := run("status"); err != nil || !strings.Contains(out, "running: pid "+strconv.Itoa(pid)) {
		t.Fatalf("status: %v\n%s", err, out)
	}

	// The engine runs as the supervisor's child; when it exits on its own
	// (here: SIGKILL), the supervisor logs it and starts it again.
	engine := enginePid(t, pid)
	if err := syscall.Kill(engine, syscall.SIGKILL); err != nil {
		t.Fatalf("kill engine: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if v, err := o.query("SELECT 1", 2*time.Second); err == nil && v == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server not back within a minute after its engine was killed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if e2 := enginePid(t, pid); e2 == engine {
		t.Fatalf("engine pid unchanged (%d)", e2)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
	if !strings.Contains(string(log), "exited after") || !strings.Contains(string(log), "killed by signal killed") {
		t.Errorf("server.log does not record the engine's exit:\n%s", log)
	}

	if out, err := run("stop"); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("server pid %d still alive after stop", pid)
	}
	for _, p := range []int{o.tcpPort, o.httpPort} {
		if portBusy(p) {
			t.Errorf("port %d still busy after stop", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "server.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
	if _, err := run("status"); err == nil {
		t.Error("status succeeded with the server stopped")
	}
}

// enginePid returns the pid of the supervisor's engine child (from
// /proc/<pid>/task/*/children: the Go runtime may start it from any thread).
func enginePid(t *testing.T, supervisor int) int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(supervisor) + "/task/*/children")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("tasks of %d: %v", supervisor, err)
	}
	var f []string
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		f = append(f, strings.Fields(string(b))...)
	}
	if len(f) != 1 {
		t.Fatalf("supervisor %d has children %q, want one engine", supervisor, f)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
