#!/usr/bin/env bash
# make demo-stop: stop the demo collector started by `make demo`, drop the
# demo databases it wrote (agentcost_demo_*, listed in .demo/databases) and
# remove .demo/. The local ClickHouse keeps running (`make clickhouse-stop`
# stops it).
#
#   --keep-data  do not drop the demo databases (used by make demo itself)
#   --quiet      print nothing when there is nothing to do
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=.demo
CH_HTTP=http://127.0.0.1:${CH_HTTP_PORT:-8123}
keep=0 quiet=0
for a in "$@"; do
	case "$a" in
	--keep-data) keep=1 ;;
	--quiet) quiet=1 ;;
	*) echo "demo-stop: unknown argument $a" >&2; exit 2 ;;
	esac
done
say() { [[ $quiet == 1 ]] || echo "$@"; }

if [[ -f "$DEMO_DIR/collector.pid" ]]; then
	pid=$(cat "$DEMO_DIR/collector.pid")
	# Only stop the process we started: check it still is our collector.
	if kill -0 "$pid" 2>/dev/null && grep -aq 'otelcol-agentcost\|examples/demo/config.yaml' "/proc/$pid/cmdline" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		echo "stopped the demo collector (pid $pid)"
	else
		say "the demo collector (pid $pid) is not running"
	fi
	rm -f "$DEMO_DIR/collector.pid"
else
	say "no demo collector to stop"
fi

if [[ $keep == 0 ]]; then
	if [[ -f "$DEMO_DIR/databases" ]]; then
		while read -r db; do
			[[ "$db" =~ ^agentcost_demo_[0-9_]+$ ]] || continue
			if curl -sS --fail-with-body "$CH_HTTP/" --data-binary "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; then
				echo "dropped database $db"
			else
				echo "could not drop database $db (is ClickHouse running?)"
			fi
		done <"$DEMO_DIR/databases"
	fi
	rm -rf "$DEMO_DIR"
	echo "removed $DEMO_DIR/; the local ClickHouse is still running ('make clickhouse-stop' stops it)"
fi
