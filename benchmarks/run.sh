#!/bin/sh
# run.sh -- the benchmarks of issue 3 that need no daemon, in one command:
# installs what is missing (Debian packages, as root, through scripts/bootstrap),
# builds Release into build-bench, and for each size generates a data set with
# gen_log and runs bench_sqlite on it (check, replay, durable submit: tmsperm
# vs SQLite vs the limits). Markdown on stdout, progress on stderr.
#
# usage: benchmarks/run.sh [EXTENSIONS ...]     (default: 100000 1000000)
# environment: BUILD (default build-bench), WORK (default $TMPDIR/tmsperm-bench),
#              CHECKS (lookups per round, default 1000000), KEEP=1 keeps the data sets
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-bench}
work=${WORK:-${TMPDIR:-/tmp}/tmsperm-bench}
checks=${CHECKS:-1000000}

# Project packages plus the benchmark peers (redis and hiredis are for the
# socket benchmark of issue 3; hyperfine times the command-line lookups).
"$root/scripts/bootstrap" libsqlite3-dev sqlite3 redis-server libhiredis-dev hyperfine

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target gen_log bench_sqlite tmsctl >&2
bench="$build/benchmarks"

echo "## bench_sqlite: tmsperm against SQLite and the limits (issue 3, item 9)"
echo
echo "Command: \`benchmarks/run.sh $*\` ($(date -u +%Y-%m-%d), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
echo "Machine: $(nproc) vCPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr);" \
     "SQLite $(pkg-config --modversion sqlite3), LMDB $(pkg-config --modversion lmdb);" \
     "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$work"
sizes=${*:-100000 1000000}
for n in $sizes; do   # shellcheck disable=SC2086 # split on purpose
    tenants=$((n / 1000))
    [ "$tenants" -lt 10 ] && tenants=10
    data="$work/d$n"
    rm -rf "$data" "$data.work"
    echo
    echo "### $n extensions, $tenants tenants"
    echo
    echo "\`gen_log --tenants $tenants --extensions $n --seed 1 --data DIR\`:"
    echo
    "$bench/gen_log" --tenants "$tenants" --extensions "$n" --seed 1 --data "$data" 2>&1 | sed 's/^/    /'
    echo
    echo "\`bench_sqlite --data DIR --checks $checks\`:"
    echo
    "$bench/bench_sqlite" --data "$data" --checks "$checks"
    if command -v hyperfine >/dev/null; then
        # one process per question, as a shell or AGI script on a PBX would ask
        pick="FROM accounts WHERE kind = 'e' LIMIT 1 OFFSET $((n / 2))"
        t=$(sqlite3 "$data.work/sqlite.db" "SELECT tenant $pick")
        id=$(sqlite3 "$data.work/sqlite.db" "SELECT id $pick")
        echo
        hyperfine -N -i --warmup 20 --runs 300 --style none --export-markdown "$work/cli.md" \
            "$build/bin/tmsctl --data $data check $t extension $id recordings.listen" \
            "sqlite3 $data.work/sqlite.db \"SELECT perms FROM accounts WHERE tenant = '$t' AND kind = 'e' AND id = '$id'\"" \
            >/dev/null 2>&1 && { echo "Command-line lookup, one process per question (hyperfine):"; echo;
                                 sed "s|$build/bin/||; s|$data.work/||; s|$data|DIR|" "$work/cli.md"; }
    fi
    [ "${KEEP:-0}" = 1 ] || rm -rf "$data" "$data.work"
done
