#!/bin/sh
# run-http.sh -- permission checks through tmsd's HTTP API against its socket
# protocol over TCP, one tmsd, one command (issue 11, item 4): installs
# libcurl4-openssl-dev and libhiredis-dev (bench_socket's base) when missing,
# builds Release, starts tmsd with --listen and --http in a temporary
# directory, feeds it the data set, runs `bench_socket http`, stops tmsd.
# Markdown on stdout, progress on stderr. Every wait is bounded.
#
# usage: benchmarks/socket/run-http.sh
# environment: BUILD (default build-bench)  EXTENSIONS (100000)  CHECKS (40000)
#   BATCHED_CHECKS (400000)  CONNS (1,8)  ROUNDS (5)  NOBUILD=1 uses the binaries in BUILD
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build-bench}
n=${EXTENSIONS:-100000}

if [ "${NOBUILD:-0}" != 1 ]; then
    "$root/scripts/bootstrap" libhiredis-dev libcurl4-openssl-dev
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j2 --target tmsd tmsctl bench_socket >&2
fi
bench=$build/benchmarks/bench_socket
"$bench" http --help 2>&1 | grep -q -- '--http HOST:PORT' ||
    { echo "run-http.sh: $bench was built without libcurl (install libcurl4-openssl-dev and rebuild)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tms-httpbench.XXXXXX")
tmsd_pid=''
stop() {
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    stop "$tmsd_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
tport=$(free_port)
hport=$(free_port)
[ "$tport" != "$hport" ] || hport=$((hport + 1))

"$build/bin/tmsd" --data "$work/tms" --listen "127.0.0.1:$tport" --http "127.0.0.1:$hport" 2>"$work/tmsd.log" &
tmsd_pid=$!
for _ in $(seq 100); do [ -S "$work/tms/tmsd.sock" ] && break; sleep 0.1; done
[ -S "$work/tms/tmsd.sock" ] || { echo "run-http.sh: tmsd did not start:" >&2; cat "$work/tmsd.log" >&2; exit 2; }

"$bench" gen --extensions "$n" --seed 1 >"$work/data.jsonl"
lines=$(wc -l <"$work/data.jsonl")
"$build/bin/tmsctl" --connect "$work/tms/tmsd.sock" submit "$work/data.jsonl" >"$work/verdicts"
accepted=$(grep -c '"accepted"' "$work/verdicts" || true)
[ "$accepted" = "$lines" ] || { echo "run-http.sh: only $accepted of $lines commands accepted" >&2; exit 2; }

echo "## bench_socket http: checks over HTTP against the socket protocol (issue 11)"
echo
echo "Command: \`benchmarks/socket/run-http.sh\` ($(date -u +%Y-%m-%d), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
echo "Machine: $(nproc) vCPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "$(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r); libcurl $(pkg-config --modversion libcurl)," \
     "h2o $(sed -n 's/^#define H2O_VERSION "\(.*\)"/\1/p' /usr/include/h2o/version.h)." \
     "The $(nproc) vCPUs are shared by the client threads and tmsd. Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "Data: one tenant, $n extensions with 1-4 extension permissions each ($lines commands, all accepted)." \
     "tmsd: \`tmsd --data DIR --listen 127.0.0.1:PORT --http 127.0.0.1:PORT\` (one process answers both sides)."
echo
rc=0
"$bench" http --data "$work/data.jsonl" --tmsd-tcp "127.0.0.1:$tport" --http "127.0.0.1:$hport" \
    --checks "${CHECKS:-40000}" --batched-checks "${BATCHED_CHECKS:-400000}" --conns "${CONNS:-1,8}" \
    --rounds "${ROUNDS:-5}" || rc=$?
echo
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
exit "$rc"
