#!/bin/sh
# memory.sh -- what the in-memory state costs (issue 7): tmsd's resident
# memory once it has folded a log and published its projection, and a
# tool's peak (tms-audit verify folds the whole log; who-can for one tenant
# applies only that tenant's records), per account, on gen_log data sets of
# 100k and 1M extensions. The data sets are made once (KEEP=1 keeps them).
#
# usage: benchmarks/memory.sh [EXTENSIONS ...]     (default: 100000 1000000; ~3 min)
# environment: BUILD (default build-rel), WORK (default $TMPDIR/tmsperm-mem)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-rel}
work=${WORK:-${TMPDIR:-/tmp}/tmsperm-mem}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target gen_log tmsd tms-audit bench_fold >&2
mkdir -p "$work"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT INT TERM

echo "Command: \`benchmarks/memory.sh $*\` ($(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
echo "| extensions | records | accounts and objects | tmsd RSS after open | per account | verify peak RSS | per account | who-can (one tenant) peak RSS | fold heap per account |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in ${*:-100000 1000000}; do
    tenants=$((n / 1000)); [ "$tenants" -lt 10 ] && tenants=10
    data=$work/d$n
    [ -d "$data" ] || "$build/benchmarks/gen_log" --tenants "$tenants" --extensions "$n" --seed 1 --data "$data" >&2
    survey=$("$build/benchmarks/bench_fold" --data "$data" --only 0)
    records=$(echo "$survey" | sed -n 's/^state after \([0-9]*\) records.*/\1/p')
    accounts=$(echo "$survey" | sed -n 's/.* \([0-9]*\) accounts and objects,.*/\1/p')
    heap=$(echo "$survey" | sed -n 's/.*= \([0-9]*\) bytes per account (everything.*/\1/p')
    # tmsd: start, wait until it answers (folded, projection level), read VmRSS, stop
    "$build/bin/tmsd" --data "$data" >"$work/tmsd.log" 2>&1 &
    pid=$!
    i=0
    while [ ! -S "$data/tmsd.sock" ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
    [ -S "$data/tmsd.sock" ] || { echo "memory.sh: tmsd did not start" >&2; cat "$work/tmsd.log" >&2; exit 2; }
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true; pid=
    vpeak=$(/usr/bin/time -f %M "$build/bin/tms-audit" verify --data "$data" 2>&1 >/dev/null | tail -1)
    wpeak=$(/usr/bin/time -f %M "$build/bin/tms-audit" who-can --data "$data" --tenant tn00001 \
            --permission recordings.listen 2>&1 >/dev/null | tail -1)
    echo "$n $records $accounts $rss $vpeak $wpeak $heap" | awk '{
        printf "| %d | %d | %d | %.0f MiB | %.0f bytes | %.0f MiB | %.0f bytes | %.0f MiB | %d bytes |\n",
               $1, $2, $3, $4 / 1024, $4 * 1024 / $3, $5 / 1024, $5 * 1024 / $3, $6 / 1024, $7 }'
done
