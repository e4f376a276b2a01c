#!/usr/bin/env bash
# test_combinations.sh SRC -- every combination of the build options
# configures (issue 21, item 4): TMS_TESTS, TMS_BENCHMARKS, TMS_FUZZ on or
# off (TMS_FUZZ only when clang is there). Configure only: the whole
# build of one combination is what CI does; the others failed at generate
# before (the tests needed a benchmark's target). Exit 0, or 1 naming
# the combination that fails.
set -u
src=$1
tmp=$(mktemp -d /tmp/tms-combos.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
fuzz="OFF"
command -v clang >/dev/null && fuzz="OFF ON"
for t in OFF ON; do
  for b in OFF ON; do
    for f in $fuzz; do
      cc=()
      [ "$f" = ON ] && cc=(-DCMAKE_C_COMPILER=clang)
      if cmake -S "$src" -B "$tmp/$t$b$f" -DTMS_TESTS=$t -DTMS_BENCHMARKS=$b -DTMS_FUZZ=$f "${cc[@]}" \
           >"$tmp/$t$b$f.log" 2>&1; then
        echo "ok   TMS_TESTS=$t TMS_BENCHMARKS=$b TMS_FUZZ=$f configures"
        n=$((n + 1))
      else
        echo "FAIL TMS_TESTS=$t TMS_BENCHMARKS=$b TMS_FUZZ=$f: $(grep -m3 -i error "$tmp/$t$b$f.log" | tr '\n' ' ')"
        fail=1
      fi
      rm -rf "$tmp/$t$b$f"
    done
  done
done
echo "$n configured, $fail failed"
exit $fail
