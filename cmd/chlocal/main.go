// Command chlocal runs a local ClickHouse server for development and tests.
//
// It serves ClickHouse's native and HTTP protocols from the embedded engine
// shipped in the npm package @chdb/lib-linux-x64-gnu (libchdb.so), fetched
// once into a cache directory, or from a real clickhouse binary when one is
// named by CLICKHOUSE_BIN or found on PATH. The server is for local use and
// tests only; production points the exporter at a ClickHouse server or
// cluster.
//
// Usage:
//
//	chlocal start  [flags]   start in the background, wait until SELECT 1 answers
//	chlocal stop   [flags]   stop the server named by the pid file
//	chlocal status [flags]   report whether the server answers and its version
//	chlocal serve  [flags]   run in the foreground (used by start): supervise
//	                         the engine, restart it when it exits on its own
//	chlocal engine [flags]   the engine itself (used by serve)
//	chlocal fetch            download libchdb.so into the cache when missing
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	chdbPackage = "@chdb/lib-linux-x64-gnu"
	chdbVersion = "26.7.3-stable.1"
	cacheSubdir = "agentcost/chdb/26.7.3"
	serveQuery  = "SYSTEM START LISTEN TCP; SYSTEM START LISTEN HTTP; " +
		"SELECT sleepEachRow(1) FROM system.numbers SETTINGS max_block_size=1 FORMAT Null"
)

type options struct {
	dir        string
	tcpPort    int
	httpPort   int
	configFile string
	timeout    time.Duration
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	var o options
	fs.StringVar(&o.dir, "dir", envOr("AGENTCOST_CH_DIR", ".clickhouse"), "directory for data, pid file and log")
	fs.IntVar(&o.tcpPort, "tcp-port", envInt("AGENTCOST_CH_TCP_PORT", 9000), "native protocol port")
	fs.IntVar(&o.httpPort, "http-port", envInt("AGENTCOST_CH_HTTP_PORT", 8123), "HTTP port")
	fs.StringVar(&o.configFile, "config-file", "", "optional ClickHouse config file (e.g. remote_servers for a cluster)")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long start waits for SELECT 1")
	_ = fs.Parse(os.Args[2:])
	if abs, err := filepath.Abs(o.dir); err == nil {
		o.dir = abs
	}

	var err error
	switch cmd {
	case "start":
		err = start(o)
	case "stop":
		err = stop(o)
	case "status":
		err = status(o)
	case "serve":
		err = serve(o)
	case "engine":
		err = engine(o)
	case "fetch":
		_, err = ensureLib()
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chlocal:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: chlocal start|stop|status|serve|fetch [-dir DIR] [-tcp-port N] [-http-port N] [-config-file FILE]")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	if v := os.Getenv(key); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func (o options) pidFile() string { return filepath.Join(o.dir, "server.pid") }
func (o options) logFile() string { return filepath.Join(o.dir, "server.log") }

// query runs a query over HTTP and returns its trimmed output.
func (o options) query(q string, timeout time.Duration) (string, error) {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/?query=%s", o.httpPort, url.QueryEscape(q)))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("http %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return strings.TrimSpace(string(b)), nil
}

func (o options) answers() bool {
	out, err := o.query("SELECT 1", 2*time.Second)
	return err == nil && out == "1"
}

func readPid(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, syscall.Kill(pid, 0) == nil
}

func start(o options) error {
	if pid, alive := readPid(o.pidFile()); alive {
		// A live server that does not answer may be restarting its
		// engine: wait for it rather than start a second one on the same
		// data and ports.
		deadline := time.Now().Add(o.timeout)
		for !o.answers() && syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("server pid %d is alive but does not answer on 127.0.0.1:%d; see %s or run stop", pid, o.tcpPort, o.logFile())
			}
			time.Sleep(200 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			fmt.Printf("clickhouse already running (pid %d, native 127.0.0.1:%d, http 127.0.0.1:%d)\n", pid, o.tcpPort, o.httpPort)
			return nil
		}
		_ = os.Remove(o.pidFile()) // it died meanwhile: start a new one
	}
	if o.answers() {
		fmt.Printf("a ClickHouse server already answers on 127.0.0.1:%d; not starting another\n", o.httpPort)
		return nil
	}
	for _, p := range []int{o.tcpPort, o.httpPort} {
		if portBusy(p) {
			return fmt.Errorf("port %d is in use by something that is not ClickHouse", p)
		}
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	if _, ok := realBinary(); !ok {
		if _, err := ensureLib(); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(o.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"serve", "-dir", o.dir, "-tcp-port", strconv.Itoa(o.tcpPort), "-http-port", strconv.Itoa(o.httpPort)}
	if o.configFile != "" {
		cf, _ := filepath.Abs(o.configFile)
		args = append(args, "-config-file", cf)
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = o.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(o.pidFile(), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Printf("starting clickhouse (pid %d, data %s, log %s) ", pid, o.dir, o.logFile())
	deadline := time.Now().Add(o.timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			_ = os.Remove(o.pidFile())
			return fmt.Errorf("server exited during start (%v); see %s:\n%s", err, o.logFile(), tail(o.logFile(), 20))
		case <-time.After(500 * time.Millisecond):
		}
		if o.answers() {
			v, _ := o.query("SELECT version()", 2*time.Second)
			fmt.Printf("\nclickhouse %s ready: native 127.0.0.1:%d, http 127.0.0.1:%d\n", v, o.tcpPort, o.httpPort)
			return nil
		}
		fmt.Print(".")
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = os.Remove(o.pidFile())
	return fmt.Errorf("server did not answer SELECT 1 within %s; see %s", o.timeout, o.logFile())
}

func stop(o options) error {
	pid, alive := readPid(o.pidFile())
	if !alive {
		_ = os.Remove(o.pidFile())
		fmt.Println("clickhouse not running (no live pid file in " + o.dir + ")")
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && syscall.Kill(pid, 0) == nil {
		time.Sleep(200 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for i := 0; i < 100 && (portBusy(o.tcpPort) || portBusy(o.httpPort)); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	_ = os.Remove(o.pidFile())
	fmt.Printf("clickhouse stopped (pid %d)\n", pid)
	return nil
}

func status(o options) error {
	pid, alive := readPid(o.pidFile())
	v, err := o.query("SELECT version()", 2*time.Second)
	switch {
	case err == nil && alive:
		fmt.Printf("running: pid %d, clickhouse %s, native 127.0.0.1:%d, http 127.0.0.1:%d, data %s\n", pid, v, o.tcpPort, o.httpPort, o.dir)
	case err == nil:
		fmt.Printf("a ClickHouse server %s answers on 127.0.0.1:%d (not started by chlocal)\n", v, o.httpPort)
	default:
		fmt.Printf("not running (http 127.0.0.1:%d: %v)\n", o.httpPort, err)
		return errors.New("clickhouse is not running; start it with `make clickhouse`")
	}
	return nil
}

// serve supervises the engine: it runs `chlocal engine` as a child process
// in its own process group and starts it again when it exits without being
// asked to (the embedded engine has been seen to exit on its own, silently,
// under heavy load); each exit is logged with its status. SIGTERM or SIGINT
// is passed on to the engine, and serve returns once it has exited. An
// engine that exits within engineMinUptime of starting, engineMaxQuickExits
// times in a row, is not started again.
func serve(o options) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"engine", "-dir", o.dir, "-tcp-port", strconv.Itoa(o.tcpPort), "-http-port", strconv.Itoa(o.httpPort)}
	if o.configFile != "" {
		args = append(args, "-config-file", o.configFile)
	}
	// Pdeathsig fires when the thread that started the child exits: keep
	// this goroutine on one thread for the life of the process.
	runtime.LockOSThread()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	quick := 0
	for {
		cmd := exec.Command(self, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		// The engine dies with its supervisor (SIGKILL of the group, or of
		// serve alone).
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		started := time.Now()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start engine: %w", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
			return <-exited
		case err := <-exited:
			up := time.Since(started).Round(time.Second)
			fmt.Fprintf(os.Stderr, "%s chlocal: engine (pid %d) exited after %s without being stopped: %v\n",
				time.Now().UTC().Format(time.RFC3339), cmd.Process.Pid, up, exitStatus(err))
			if time.Since(started) < engineMinUptime {
				quick++
			} else {
				quick = 0
			}
			if quick >= engineMaxQuickExits {
				return fmt.Errorf("engine exited %d times within %s of starting; not restarting", quick, engineMinUptime)
			}
			select {
			case <-sigs:
				return nil
			case <-time.After(time.Second):
			}
			fmt.Fprintf(os.Stderr, "%s chlocal: restarting the engine\n", time.Now().UTC().Format(time.RFC3339))
		}
	}
}

const (
	engineMinUptime     = 30 * time.Second
	engineMaxQuickExits = 3
)

// exitStatus describes how a process ended.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
	}
	return err.Error()
}

// engine runs the ClickHouse engine in this process (or a clickhouse binary
// when one is configured) until it exits.
func engine(o options) error {
	dataDir := filepath.Join(o.dir, "data") + "/"
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	args := []string{
		"--path=" + dataDir,
		"--tcp_port=" + strconv.Itoa(o.tcpPort),
		"--http_port=" + strconv.Itoa(o.httpPort),
		"--listen_host=127.0.0.1",
		"--multiquery",
		"--function_sleep_max_microseconds_per_block=1000000000",
	}
	if o.configFile != "" {
		args = append(args, "--config-file="+o.configFile)
	}
	args = append(args, "--query="+serveQuery)
	if bin, ok := realBinary(); ok {
		// Become the clickhouse process: signals reach it directly.
		return syscall.Exec(bin, append([]string{bin, "local"}, args...), os.Environ())
	}
	lib, err := ensureLib()
	if err != nil {
		return err
	}
	return runEmbedded(lib, args)
}

// realBinary reports a clickhouse binary named by CLICKHOUSE_BIN or on PATH.
func realBinary() (string, bool) {
	if b := os.Getenv("CLICKHOUSE_BIN"); b != "" {
		return b, true
	}
	if b, err := exec.LookPath("clickhouse"); err == nil {
		return b, true
	}
	return "", false
}

func cacheDir() (string, error) {
	if d := os.Getenv("AGENTCOST_CHDB_CACHE"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = filepath.Join(os.TempDir(), "agentcost-cache")
	}
	return filepath.Join(base, cacheSubdir), nil
}

// ensureLib returns the path of libchdb.so, fetching the pinned npm package
// into the cache directory when it is missing.
func ensureLib() (string, error) {
	if p := os.Getenv("CHDB_LIB"); p != "" {
		return p, nil
	}
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	lib := filepath.Join(dir, "package", "libchdb.so")
	if st, err := os.Stat(lib); err == nil && st.Size() > 100<<20 {
		return lib, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "fetching %s@%s (about 178 MB) into %s\n", chdbPackage, chdbVersion, dir)
	pack := exec.Command("npm", "pack", "--silent", chdbPackage+"@"+chdbVersion)
	pack.Dir = dir
	pack.Stderr = os.Stderr
	out, err := pack.Output()
	if err != nil {
		return "", fmt.Errorf("npm pack %s@%s: %w", chdbPackage, chdbVersion, err)
	}
	tgz := filepath.Join(dir, strings.TrimSpace(lastLine(string(out))))
	untar := exec.Command("tar", "-xzf", tgz, "package/libchdb.so")
	untar.Dir = dir
	untar.Stderr = os.Stderr
	if err := untar.Run(); err != nil {
		return "", fmt.Errorf("unpack %q: %w", tgz, err)
	}
	_ = os.Remove(tgz)
	return lib, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func portBusy(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 300*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
