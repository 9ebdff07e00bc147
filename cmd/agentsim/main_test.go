package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	o, err := parse([]string{"-protocol", "http", "-traces", "5", "-seed", "9"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:4318", o.endpoint)
	assert.Equal(t, 5, o.traces)
	assert.Equal(t, uint64(9), o.seed)

	o, err = parse(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:4317", o.endpoint)
	assert.Equal(t, "grpc", o.protocol)

	_, err = parse([]string{"-protocol", "udp"}, io.Discard)
	assert.ErrorContains(t, err, `-protocol "udp": want grpc or http`)
	_, err = parse([]string{"extra"}, io.Discard)
	assert.ErrorContains(t, err, "unexpected arguments")
}

func TestRunFailsWhenNothingListens(t *testing.T) {
	// Port 1 on loopback refuses connections: the run must say that spans
	// were not exported rather than pretend success.
	err := run([]string{"-quiet", "-traces", "2", "-rate", "1000", "-protocol", "http", "-endpoint", "127.0.0.1:1"}, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "spans failed to export")
}
