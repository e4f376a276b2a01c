#!/bin/sh
# run.sh -- issue 4, item 7: tms-history custom and tms-audit who-can against
# jq over a JSON Lines export of the same log (benchmarks/jq/*.jq), on logs made
# by gen_log. For each size: generate, export, time both sides with hyperfine
# (each timed run writes its answer to a file), check the answers are the same,
# print a Markdown table (stdout; progress on stderr). Exit 1 if any answer differs.
#
# usage: benchmarks/jq/run.sh [RECORDS ...]      (default: 1000000; ~3.5 min)
# environment: BUILD (default build-jq), WORK (default $TMPDIR/tmsperm-jq),
#   RUNS (timed runs per command; default 3 up to 2M records, else 1),
#   TENANT (default tn00001, gen_log's largest), PERM (default recordings.listen),
#   KEEP=1 keeps the data sets and exports
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build-jq}
work=${WORK:-${TMPDIR:-/tmp}/tmsperm-jq}
tenant=${TENANT:-tn00001}
perm=${PERM:-recordings.listen}
jqdir=$root/benchmarks/jq
bin=$build/bin

for p in jq hyperfine; do
    command -v "$p" >/dev/null || { echo "run.sh: $p is missing (apt-get install $p)" >&2; exit 2; }
done
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target gen_log tms-audit tms-history >&2
mkdir -p "$work"

echo "Command: \`benchmarks/jq/run.sh $*\` ($(date -u +%Y-%m-%dT%H:%MZ)," \
     "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
echo "Machine: $(nproc) vCPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr); $(jq --version);" \
     "$(hyperfine --version); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# hyperfine one command; prints "mean stddev min" in seconds
timeit() {   # name runs command
    hyperfine --style none --runs "$2" --export-json "$work/hf.json" -n "$1" "$3" >/dev/null 2>&1 ||
        { echo "run.sh: failed: $3" >&2; exit 2; }
    jq -r '.results[0] | "\(.mean) \(.stddev // 0) \(.min)"' "$work/hf.json"
}

fails=0
row() {   # what tms_cmd jq_cmd tms_out jq_out
    echo "  timing: $1" >&2
    set -- "$1" "$(timeit tms "$runs" "$2")" "$(timeit jq "$runs" "$3")" "$4" "$5"
    if cmp -s "$4" "$5"; then same="same ($(wc -l <"$4") lines, $(wc -c <"$4") bytes)"; else same="**DIFFER**"; fails=1; fi
    echo "$2 $3" | awk -v what="$1" -v same="$same" -v n="$records" '{
        printf "| %s | %.2f s (±%.2f) | %.0f rec/s | %.2f s (±%.2f) | %.0f rec/s | %.2fx | %s |\n",
               what, $1, $2, n / $1, $4, $5, n / $4, $4 / $1, same }'
}

[ $# -gt 0 ] || set -- 1000000
for target in "$@"; do
    ext=$((target * 10 / 46))              # gen_log: ~4.6 records per extension
    tenants=$((ext / 1000)); [ "$tenants" -lt 10 ] && tenants=10
    data=$work/d$target; export_file=$work/e$target.jsonl
    runs=${RUNS:-$([ "$target" -le 2000000 ] && echo 3 || echo 1)}
    rm -rf "$data"
    echo "generating $target records ($ext extensions, $tenants tenants)" >&2
    "$build/benchmarks/gen_log" --tenants "$tenants" --extensions "$ext" --seed 1 --data "$data" >"$work/gen.txt" 2>&1
    t1=$(date +%s.%N)
    "$bin/tms-audit" export --data "$data" >"$export_file"
    t2=$(date +%s.%N)
    records=$(wc -l <"$export_file")
    trecs=$(grep -c "\"tenant\":\"$tenant\"" "$export_file" || true)
    echo
    echo "### $records records ($ext extensions, $tenants tenants; tenant $tenant: $trecs records)"
    echo
    echo "\`gen_log --tenants $tenants --extensions $ext --seed 1 --data DIR\`: $(tail -1 "$work/gen.txt" | sed 's/^gen_log: //')."
    echo "Log $(du -sm "$data/log" | cut -f1) MiB; \`tms-audit export\` $(echo "$t1 $t2" | awk '{printf "%.1f", $2 - $1}') s," \
         "$(du -m "$export_file" | cut -f1) MiB of JSON Lines. $runs timed run(s) per command (hyperfine, page cache warm)."
    echo
    echo "| question | tmsperm | tmsperm rate | jq | jq rate | tmsperm vs jq | answers |"
    echo "|---|---|---|---|---|---|---|"
    o=$work/out
    row "tms-history custom --tenant $tenant" \
        "$bin/tms-history custom --data $data --tenant $tenant --format json > $o.h.tms" \
        "jq -c -n -L $jqdir --arg tenant $tenant -f $jqdir/custom.jq $export_file > $o.h.jq" "$o.h.tms" "$o.h.jq"
    row "tms-audit who-can --tenant $tenant --permission $perm" \
        "$bin/tms-audit who-can --data $data --tenant $tenant --permission $perm > $o.w.tms" \
        "jq -c -n -L $jqdir --arg tenant $tenant --arg perm $perm -f $jqdir/whocan.jq $export_file > $o.w.jq" \
        "$o.w.tms" "$o.w.jq"
    echo "  timing: jq floor" >&2
    floor=$(timeit floor "$runs" "jq -n 'reduce inputs as \$r (0; . + 1)' $export_file")
    echo "$floor" | awk -v n="$records" '{ printf "| jq floor: parse every line, nothing else (`reduce inputs as $r (0; .+1)`) | | | %.2f s (±%.2f) | %.0f rec/s | | |\n", $1, $2, n / $1 }'
    [ "${KEEP:-0}" = 1 ] || rm -rf "$data" "$export_file"
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fails
