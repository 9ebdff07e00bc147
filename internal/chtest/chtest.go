// Package chtest gives tests a real ClickHouse database of their own.
//
// The server is named by AGENTCOST_CLICKHOUSE_DSN (default
// clickhouse://127.0.0.1:9000/default); `make clickhouse` starts a local one.
// Each call to New creates a fresh database that is dropped when the test
// passes and kept for inspection when it fails. When no server answers the
// test fails under CI=true and is skipped otherwise, with a message that says
// how to start one.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// EnvDSN names the environment variable holding the server's DSN.
const EnvDSN = "AGENTCOST_CLICKHOUSE_DSN"

// DefaultDSN is used when EnvDSN is unset; it matches `make clickhouse`.
const DefaultDSN = "clickhouse://127.0.0.1:9000/default"

// DSN returns the DSN of the test server.
func DSN() string {
	if v := os.Getenv(EnvDSN); v != "" {
		return v
	}
	return DefaultDSN
}

// DB is a database created for one test.
type DB struct {
	// Name is the database name, unique per test.
	Name string
	// Conn is a native-protocol connection whose default database is Name.
	Conn driver.Conn
	// Options are the connection options; Addr and Auth can build other clients.
	Options *clickhouse.Options
}

// DSN returns a DSN for this test's database, suitable for an exporter's
// endpoint setting.
func (d *DB) DSN() string {
	return fmt.Sprintf("clickhouse://%s/%s", d.Options.Addr[0], d.Name)
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// New connects to the test server and creates a database for t.
func New(t testing.TB) *DB {
	t.Helper()
	opts := Options(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := connect(t, opts)
	name := dbName(t.Name())
	if err := createDatabase(ctx, admin, name); err != nil {
		t.Fatalf("chtest: create database %s: %v", name, err)
	}
	dbOpts := *opts
	dbOpts.Auth.Database = name
	conn, err := clickhouse.Open(&dbOpts)
	if err != nil {
		t.Fatalf("chtest: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		defer admin.Close()
		if t.Failed() {
			t.Logf("chtest: keeping database %s for inspection", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" SYNC"); err != nil {
			t.Logf("chtest: drop database %s: %v", name, err)
		}
	})
	return &DB{Name: name, Conn: conn, Options: &dbOpts}
}

// Options parses the test DSN and checks that a server answers, failing
// (CI=true) or skipping the test when none does.
func Options(t testing.TB) *clickhouse.Options {
	t.Helper()
	opts, err := clickhouse.ParseDSN(DSN())
	if err != nil {
		t.Fatalf("chtest: parse %s %q: %v", EnvDSN, DSN(), err)
	}
	if opts.DialTimeout == 0 || opts.DialTimeout > 5*time.Second {
		opts.DialTimeout = 5 * time.Second
	}
	if err := ping(opts); err != nil {
		msg := fmt.Sprintf("chtest: no ClickHouse server answers at %s (%v).\n"+
			"Start the local one with `make clickhouse` (or set %s to a running server); `make test` starts it for you.",
			DSN(), err, EnvDSN)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return opts
}

var (
	pingOnce sync.Once
	pingErr  error
)

func ping(opts *clickhouse.Options) error {
	pingOnce.Do(func() {
		conn, err := clickhouse.Open(opts)
		if err != nil {
			pingErr = err
			return
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pingErr = conn.Ping(ctx)
	})
	return pingErr
}

// createDatabase creates name, retrying while the server does not answer
// (until ctx ends): the local server's supervisor restarts an engine that
// exited within seconds (cmd/chlocal), and a test should not fail in that
// window. A server error (an exception) is returned at once.
func createDatabase(ctx context.Context, admin driver.Conn, name string) error {
	for {
		err := admin.Exec(ctx, "CREATE DATABASE "+name)
		var exc *clickhouse.Exception
		if err == nil || errors.As(err, &exc) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func connect(t testing.TB, opts *clickhouse.Options) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatalf("chtest: open: %v", err)
	}
	return conn
}

func dbName(testName string) string {
	base := unsafeChars.ReplaceAllString(strings.ToLower(testName), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "test_" + strings.Trim(base, "_") + "_" + hex.EncodeToString(b[:])
}
