#!/bin/sh
# run.sh -- tmsd's socket path against Redis in one command (issue 3, item 9):
# installs redis-server and libhiredis-dev when missing, builds Release, starts
# tmsd and redis-server (Unix sockets and loopback TCP) in a temporary
# directory, feeds both the same data, runs bench_socket, stops both.
# Markdown on stdout, progress on stderr. Every wait is bounded.
#
# usage: benchmarks/socket/run.sh
# environment: BUILD (default build-bench)  EXTENSIONS (100000)  CHECKS (200000)
#   BATCHED_CHECKS (2000000)  SUBMITS (2000)  BATCHED_SUBMITS (20000)  CONNS (1,8,64)
#   TCP=0 skips loopback TCP; ONLY=check1,checkB,submit,verify picks phases (default all);
#   NOBUILD=1 uses the binaries already in BUILD;
#   PROFILE=check1|checkB|submit (comma list) runs only those phases under
#   `perf record -e cpu-clock --call-graph dwarf` on tmsd, prints its hottest functions
#   (figures of a profiled run are not for RESULTS.md); KEEP=1 keeps the directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build-bench}
n=${EXTENSIONS:-100000}
profile=${PROFILE:-}
only=${ONLY:-$profile}

if [ "${NOBUILD:-0}" != 1 ]; then
    "$root/scripts/bootstrap" redis-server libhiredis-dev
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j2 --target tmsd tmsctl >&2
fi
if grep -q 'add_subdirectory(socket)' "$root/benchmarks/CMakeLists.txt"; then
    bench=$build/benchmarks/bench_socket
    [ "${NOBUILD:-0}" = 1 ] || cmake --build "$build" -j2 --target bench_socket >&2
else   # not yet part of the project's build: build it against the project's library
    bench=$build/socket-bench/bench_socket
    if [ "${NOBUILD:-0}" != 1 ]; then
        cmake -S "$here" -B "$build/socket-bench" -DTMS_BUILD_DIR="$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$build/socket-bench" -j2 >&2
    fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tms-sockbench.XXXXXX")
[ "$(stat -f -c %T "$work")" = tmpfs ] && echo "run.sh: warning: $work is on tmpfs: fsync costs nothing there" >&2
tmsd_pid='' redis_pid='' perf_pid=''

# Stop a process we started: SIGTERM (SIGINT for perf), then at most 10 s, then SIGKILL.
stop() {
    [ -n "$1" ] || return 0
    kill "-$2" "$1" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    stop "$perf_pid" INT
    stop "$tmsd_pid" TERM
    stop "$redis_pid" TERM
    if [ "${KEEP:-0}" = 1 ]; then echo "run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
tport=$(free_port)
rport=$(free_port)
[ "$tport" != "$rport" ] || rport=$((rport + 1))

"$build/bin/tmsd" --data "$work/tms" --listen "127.0.0.1:$tport" 2>"$work/tmsd.log" &
tmsd_pid=$!
mkdir -p "$work/redis"
redis-server --port "$rport" --bind 127.0.0.1 --unixsocket "$work/redis.sock" --unixsocketperm 700 \
    --dir "$work/redis" --save '' --appendonly yes --appendfsync always --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 100); do
    [ -S "$work/tms/tmsd.sock" ] && [ "$(redis-cli -s "$work/redis.sock" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
done
[ -S "$work/tms/tmsd.sock" ] || { echo "run.sh: tmsd did not start:" >&2; cat "$work/tmsd.log" >&2; exit 2; }
[ "$(redis-cli -s "$work/redis.sock" ping 2>/dev/null)" = PONG ] ||
    { echo "run.sh: redis-server did not start:" >&2; cat "$work/redis.log" >&2; exit 2; }

"$bench" gen --extensions "$n" --seed 1 >"$work/data.jsonl"
lines=$(wc -l <"$work/data.jsonl")
t0=$(date +%s.%N)
"$build/bin/tmsctl" --connect "$work/tms/tmsd.sock" submit "$work/data.jsonl" >"$work/verdicts"
t1=$(date +%s.%N)
accepted=$(grep -c '"accepted"' "$work/verdicts" || true)
[ "$accepted" = "$lines" ] || { echo "run.sh: only $accepted of $lines commands accepted" >&2; exit 2; }

echo "## bench_socket: tmsd's socket path against Redis (issue 3, item 9)"
echo
echo "Command: \`benchmarks/socket/run.sh\` ($(date -u +%Y-%m-%d), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
echo "Machine: $(nproc) vCPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
     "$(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r), $(df --output=fstype "$work" | tail -1) on $(df --output=source "$work" | tail -1);" \
     "$(redis-server --version | cut -d' ' -f1-3), hiredis $(pkg-config --modversion hiredis)." \
     "The $(nproc) vCPUs are shared by the clients (one thread per connection) and the server." \
     "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "Data: one tenant, $n extensions, each with 1-4 of the catalogue's extension permissions;" \
     "tmsd fed $lines commands with \`tmsctl --connect SOCK submit\` ($(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s, all accepted);" \
     "Redis fed one SET per extension (SADD, pipelined) from the same file." \
     "tmsd: \`tmsd --data DIR --listen 127.0.0.1:PORT\`; redis-server 127.0.0.1:PORT + unixsocket," \
     "\`appendonly yes, appendfsync always, save ''\` (its fsync matters only to the submit rows)."
echo

set -- --data "$work/data.jsonl" --tmsd "$work/tms/tmsd.sock" --redis "$work/redis.sock" \
    --checks "${CHECKS:-200000}" --batched-checks "${BATCHED_CHECKS:-2000000}" \
    --submits "${SUBMITS:-2000}" --batched-submits "${BATCHED_SUBMITS:-20000}" --conns "${CONNS:-1,8,64}"
[ "${TCP:-1}" = 0 ] || set -- "$@" --tmsd-tcp "127.0.0.1:$tport" --redis-tcp "127.0.0.1:$rport"
[ -z "$only" ] || set -- "$@" --only "$only"
if [ -n "$profile" ]; then
    # DWARF unwinding: liblmdb and libmsgpackc have no frame pointers
    perf record -q -e cpu-clock --call-graph dwarf,16384 -F 1000 -p "$tmsd_pid" -o "$work/perf.data" 2>"$work/perf.log" &
    perf_pid=$!
    sleep 1
fi
rc=0
"$bench" run "$@" || rc=$?
if [ -n "$profile" ]; then
    stop "$perf_pid" INT
    perf_pid=''
    echo
    echo "Profile of tmsd during \`--only $profile\` (perf record -e cpu-clock --call-graph dwarf;" \
         "inclusive and self share of tmsd's samples; the figures above are perturbed by perf):"
    echo
    echo '```'
    perf report -i "$work/perf.data" --stdio --children --sort symbol -g none --percent-limit 2 2>/dev/null |
        grep -v '^#' | grep -v '^$' | grep -v '\] 0x0000' | head -60
    echo '```'
fi
echo
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
exit "$rc"
