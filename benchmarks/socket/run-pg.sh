#!/bin/sh
# run-pg.sh -- durable submit through tmsd against PostgreSQL 15 in one command
# (issue 7): installs postgresql-15, libpq-dev and libhiredis-dev when missing,
# builds Release, starts tmsd (as benchmarks/socket/run.sh does) and a private
# PostgreSQL cluster (initdb in a temporary directory owned by postgres, Unix
# socket in that directory only, every durability setting at its default),
# feeds both the same data, runs `bench_socket durable`, stops both and
# removes the directories. Markdown on stdout, progress on stderr. Every wait
# is bounded.
#
# usage: benchmarks/socket/run-pg.sh          (as root: initdb and postgres run as user postgres)
# environment: BUILD (default build-bench-pg)  EXTENSIONS (100000)  SUBMITS (12000: commands per
#   measurement at 1 per commit, split over the clients)  BATCHED_SUBMITS (60000, at BATCH per
#   commit)  BATCH (100)  CONNS (1,8,64)  ROUNDS (7)  NOBUILD=1 uses the binaries already in BUILD;
#   PGBIN (/usr/lib/postgresql/15/bin); COMMIT names the commit in the header when the tree is
#   not a git checkout (an export); KEEP=1 keeps the directories;
#   STRACE=1 runs the measurements under `strace -f -c -w` attached to tmsd and to every
#   PostgreSQL process (syscall counts and wall time per call of the syncs and writes, printed
#   after the table; strace slows both, so figures of such a run are not for RESULTS.md;
#   CONNS=1 ROUNDS=1 keeps it short).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build-bench-pg}
n=${EXTENSIONS:-100000}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}

if [ "${NOBUILD:-0}" != 1 ]; then
    "$root/scripts/bootstrap" postgresql-15 libpq-dev libhiredis-dev
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j2 --target tmsd tmsctl bench_socket >&2
fi
bench=$build/benchmarks/bench_socket
"$bench" durable --help 2>&1 | grep -q -- '--pg CONNINFO' ||
    { echo "run-pg.sh: $bench was built without libpq (install libpq-dev and rebuild)" >&2; exit 2; }
[ -x "$pgbin/initdb" ] || { echo "run-pg.sh: no $pgbin/initdb (postgresql-15)" >&2; exit 2; }
id postgres >/dev/null 2>&1 || { echo "run-pg.sh: no user postgres" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run-pg.sh: run as root (initdb and postgres run as user postgres)" >&2; exit 2; }

# tmsd's directory is root's, the cluster's postgres's; both on the same file system (TMPDIR).
work=$(mktemp -d "${TMPDIR:-/tmp}/tms-pgbench.XXXXXX")
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/tms-pgbench-pg.XXXXXX")
chown postgres: "$pgdir"
[ "$(stat -f -c %T "$work")" = tmpfs ] && echo "run-pg.sh: warning: $work is on tmpfs: fsync costs nothing there" >&2
tmsd_pid='' pg_started=0 strace_pids=''
traced='fdatasync,fsync,pwrite64,write,writev,sendto,recvfrom,read,epoll_wait'

as_pg() { runuser -u postgres -- "$@"; }

# Stop a process we started: SIGTERM, then at most 10 s, then SIGKILL.
stop() {
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
# pg_ctl stop (fast: disconnect clients, checkpoint) within 30 s, else immediate,
# else SIGKILL to the postmaster whose pid the cluster recorded.
stop_pg() {
    [ "$pg_started" = 1 ] || return 0
    timeout 40 runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        timeout 20 runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
        { [ -f "$pgdir/data/postmaster.pid" ] && kill -KILL "$(head -1 "$pgdir/data/postmaster.pid")" 2>/dev/null; } ||
        true
}
cleanup() {
    for p in $strace_pids; do stop "$p"; done
    stop "$tmsd_pid"
    stop_pg
    if [ "${KEEP:-0}" = 1 ]; then echo "run-pg.sh: kept $work $pgdir" >&2; else rm -rf "$work" "$pgdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
mport=$(free_port)

# The cluster: initdb's defaults (fsync, synchronous_commit, wal_sync_method, full_page_writes...)
# untouched; only where it listens changes: no TCP, the socket in $pgdir.
timeout 120 runuser -u postgres -- "$pgbin/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 --locale=C \
    >"$pgdir/initdb.log" 2>&1 || { echo "run-pg.sh: initdb failed:" >&2; cat "$pgdir/initdb.log" >&2; exit 2; }
printf "listen_addresses = ''\nunix_socket_directories = '%s'\n" "$pgdir" >>"$pgdir/data/postgresql.conf"
pg_started=1
timeout 90 runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 start >/dev/null ||
    { echo "run-pg.sh: PostgreSQL did not start:" >&2; cat "$pgdir/server.log" >&2; exit 2; }
conninfo="host=$pgdir port=5432 dbname=postgres user=postgres"

"$build/bin/tmsd" --data "$work/tms" --metrics "127.0.0.1:$mport" 2>"$work/tmsd.log" &
tmsd_pid=$!
for _ in $(seq 100); do [ -S "$work/tms/tmsd.sock" ] && break; sleep 0.1; done
[ -S "$work/tms/tmsd.sock" ] || { echo "run-pg.sh: tmsd did not start:" >&2; cat "$work/tmsd.log" >&2; exit 2; }

"$bench" gen --extensions "$n" --seed 1 >"$work/data.jsonl"
lines=$(wc -l <"$work/data.jsonl")
t0=$(date +%s.%N)
timeout 600 "$build/bin/tmsctl" --connect "$work/tms/tmsd.sock" submit "$work/data.jsonl" >"$work/verdicts"
t1=$(date +%s.%N)
accepted=$(grep -c '"accepted"' "$work/verdicts" || true)
[ "$accepted" = "$lines" ] || { echo "run-pg.sh: only $accepted of $lines commands accepted" >&2; exit 2; }

echo "## Durable submit: tmsd against PostgreSQL 15 (issue 7)"
echo
echo "Command: \`benchmarks/socket/run-pg.sh\` ($(date -u '+%Y-%m-%d %H:%M UTC'), commit ${COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')})"
echo
echo "Machine: $(nproc) vCPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
     "$(. /etc/os-release && echo "$PRETTY_NAME"), $(uname -r), $(df --output=fstype "$work" | tail -1) on $(df --output=source "$work" | tail -1)" \
     "(tmsd's and PostgreSQL's directories on the same file system); libpq $(pkg-config --modversion libpq)." \
     "The $(nproc) vCPUs are shared by the client threads (one per connection), tmsd and PostgreSQL." \
     "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "Data: one tenant, $n extensions, each with 1-4 of the catalogue's extension permissions;" \
     "tmsd fed $lines commands with \`tmsctl --connect SOCK submit\` ($(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s, all accepted);" \
     "PostgreSQL: \`ext(tenant text, id text, perms integer, PRIMARY KEY (tenant, id)) WITH (fillfactor = 80)\`," \
     "one row per extension (COPY from the same file), VACUUM ANALYZE, CHECKPOINT." \
     "tmsd: \`tmsd --data DIR --metrics 127.0.0.1:PORT\`; PostgreSQL: \`initdb -A trust -E UTF8 --locale=C\`," \
     "\`listen_addresses = ''\`, the socket in the cluster's temporary directory, nothing else changed."
echo

if [ "${STRACE:-0}" = 1 ]; then
    # tmsd, the postmaster and its children (walwriter, checkpointer...; -f follows the backends
    # the clients start); each strace writes its summary when stopped.
    pm=$(head -1 "$pgdir/data/postmaster.pid")
    strace -f -c -w -e trace="$traced" -o "$work/strace.tmsd" -p "$tmsd_pid" 2>/dev/null &
    strace_pids=$!
    set -- $(for p in "$pm" $(ps --ppid "$pm" -o pid=); do printf -- '-p %s ' "$p"; done)
    strace -f -c -w -e trace="$traced" -o "$work/strace.pg" "$@" 2>/dev/null &
    strace_pids="$strace_pids $!"
    sleep 1
fi
python3 "$here/append_sync.py" "$work"
echo
rc=0
"$bench" durable --data "$work/data.jsonl" --tmsd "$work/tms/tmsd.sock" --pg "$conninfo" \
    --tmsd-metrics "127.0.0.1:$mport" --submits "${SUBMITS:-12000}" --batched-submits "${BATCHED_SUBMITS:-60000}" \
    --batch "${BATCH:-100}" --conns "${CONNS:-1,8,64}" --rounds "${ROUNDS:-7}" || rc=$?
if [ -n "$strace_pids" ]; then
    for p in $strace_pids; do stop "$p"; done
    strace_pids=''
    for side in tmsd pg; do
        echo
        echo "strace -f -c -w -e trace=$traced of $side during the run (wall time per call; perturbed by strace):"
        echo
        echo '```'
        cat "$work/strace.$side"
        echo '```'
    done
fi
echo
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
exit "$rc"
