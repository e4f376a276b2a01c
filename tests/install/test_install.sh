#!/bin/sh
# test_install.sh -- what `cmake --install` gives a new user (issue 12, item 1),
# checked from a scratch prefix:
#   - the five programs (all in bin, SPEC section 10) answer --version with the project's version;
#   - libtmsperm.so has the soname libtmsperm.so.MAJOR, exports only tms_*
#     symbols, and needs neither libuv, jansson, h2o nor nats.c;
#   - the public headers compile alone (C11, -Wall -Wextra -pedantic -Werror);
#   - examples/embedded/pbx_check.c builds with `pkg-config --cflags --libs tmsperm`
#     and answers allow / deny / fail closed on data written by the installed tmsctl.
#
# usage: test_install.sh BUILD_DIR SOURCE_DIR   (prints "N passed, N failed")
set -u
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tms-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

prefix=$tmp/prefix
if ! cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
    bad "cmake --install: $(tail -5 "$tmp/install.log")"
    echo "$passed passed, $failed failed"
    exit 1
fi
version=$(sed -n 's/^#define TMS_VERSION "\(.*\)"/\1/p' "$prefix/include/tmsperm_version.h")
major=${version%%.*}
check "the installed version header names a version" test -n "$version"

for p in bin/tmsctl bin/tms-audit bin/tms-history bin/tms-restore bin/tmsd; do
    name=${p#*/}
    out=$("$prefix/$p" --version 2>&1)
    check "$p --version: '$out'" test "$out" = "$name (tmsperm) $version"
done

needed=""
lib=$(ls "$prefix"/lib*/libtmsperm.so."$version" "$prefix"/lib/*/libtmsperm.so."$version" 2>/dev/null | head -1)
check "libtmsperm.so.$version is installed" test -n "$lib"
if [ -n "$lib" ]; then
    soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
    check "soname libtmsperm.so.$major (got '$soname')" test "$soname" = "libtmsperm.so.$major"
    needed=$(readelf -d "$lib" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
    case "$needed" in
        *libuv*|*jansson*|*h2o*|*nats*) bad "libtmsperm needs a server-side library: $needed" ;;
        *) ok ;;
    esac
    others=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^TMSPERM_' | grep -v '^tms_' | tr '\n' ' ')
    check "libtmsperm exports only tms_* (also: '$others')" test -z "$others"
    for f in tms_reader_open tms_reader_open_why tms_reader_message tms_reader_check tms_client_connect tms_client_check \
             tms_err_name tms_version; do
        check "libtmsperm exports $f" sh -c "nm -D --defined-only '$lib' | grep -q ' $f@@TMSPERM_'"
    done
fi

# man pages (help2man, from --help) and the systemd unit
for page in man1/tmsctl.1 man1/tms-audit.1 man1/tms-history.1 man1/tms-restore.1 man8/tmsd.8; do
    f=$(find "$prefix" -path "*/man/$page" | head -1)
    check "man page $page is installed" test -n "$f"
    [ -n "$f" ] && check "man page $page renders with NAME and the version" sh -c \
        "MANWIDTH=100 man -l '$f' 2>/dev/null | grep -q NAME && grep -q 'tmsperm $version' '$f'"
done
unit=$prefix/lib/systemd/system/tmsd.service
check "tmsd.service is installed" test -f "$unit"
check "tmsd.service is Type=notify with ExecReload SIGHUP" sh -c \
    "grep -q '^Type=notify' '$unit' && grep -q '^ExecReload=/bin/kill -HUP' '$unit'"
check "the sysusers.d entry for user tmsperm is installed" grep -q '^u tmsperm' "$prefix/lib/sysusers.d/tmsperm.conf"
if command -v systemd-analyze >/dev/null; then
    sed "s|^ExecStart=[^ ]*/tmsd|ExecStart=$prefix/bin/tmsd|" "$unit" >"$tmp/tmsd.service"
    out=$(systemd-analyze verify --man=no "$tmp/tmsd.service" 2>&1)
    check "systemd-analyze verify tmsd.service: '$out'" test -z "$out"
fi

for h in tmsperm.h tmsclient.h; do
    printf '#include <%s>\nint main(void) { return TMS_OK; }\n' "$h" >"$tmp/h.c"
    check "$h compiles alone" cc -std=c11 -Wall -Wextra -pedantic -Werror -I"$prefix/include" -c "$tmp/h.c" -o "$tmp/h.o"
done

pcdir=$(dirname "$(find "$prefix" -name tmsperm.pc | head -1)")
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs tmsperm 2>"$tmp/pc.err")
check "pkg-config --cflags --libs tmsperm ($(cat "$tmp/pc.err"))" test -n "$flags"
check "pkg-config --modversion tmsperm = $version" test "$(PKG_CONFIG_PATH=$pcdir pkg-config --modversion tmsperm)" = "$version"
san=''   # a sanitizer build's library needs its runtime in the program too
case "$needed" in *libasan*) san='-fsanitize=address,undefined' ;; esac
# shellcheck disable=SC2086
if cc $san -std=c11 -Wall -Wextra -Werror "$src/examples/embedded/pbx_check.c" $flags -o "$tmp/pbx_check" 2>"$tmp/cc.err"; then
    ok
    data=$tmp/data
    printf '%s\n' '{"cmd":"CreateTenant","tenant":"acme","actor":"system","admin":"admin"}' \
        '{"cmd":"CreateExtension","tenant":"acme","actor":"admin","id":"1001"}' \
        '{"cmd":"SetPermissions","tenant":"acme","actor":"admin","kind":"extension","id":"1001","enable":["calls.international"],"disable":[]}' |
        "$prefix/bin/tmsctl" --data "$data" submit >"$tmp/submit.out" 2>&1
    check "the installed tmsctl wrote the data" test "$(grep -c accepted "$tmp/submit.out")" = 3
    libdir=$(dirname "$lib")
    run() { LD_LIBRARY_PATH=$libdir "$tmp/pbx_check" "$@" 2>/dev/null; }
    out=$(run "$data" acme extension 1001 calls.international); rc=$?
    check "pbx_check: allow, exit 0 (got '$out' $rc)" test "$out $rc" = "allow 0"
    out=$(run "$data" acme extension 1001 recordings.listen); rc=$?
    check "pbx_check: deny, exit 1 (got '$out' $rc)" test "$out $rc" = "deny 1"
    out=$(run "$data" acme extension 1001 no.such.name); rc=$?
    check "pbx_check: an unknown name is deny (got '$out' $rc)" test "$out $rc" = "deny 1"
    out=$(run "$tmp/nowhere" acme extension 1001 calls.international); rc=$?
    check "pbx_check: no projection: deny, exit 2 (got '$out' $rc)" test "$out $rc" = "deny 2"
    err=$(LD_LIBRARY_PATH=$libdir "$tmp/pbx_check" "$tmp/nowhere" acme extension 1001 calls.international 2>&1 >/dev/null)
    check "pbx_check: ... and says why, with the system's reason (got '$err')" sh -c \
        "echo \"\$0\" | grep -q 'no projection in .*No such file or directory'" "$err"
    check "pbx_check runs against the installed library" sh -c \
        "LD_LIBRARY_PATH='$libdir' ldd '$tmp/pbx_check' | grep -q '$libdir/libtmsperm.so.$major'"
else
    bad "pbx_check.c does not build with pkg-config's flags: $(head -5 "$tmp/cc.err")"
fi
# A plain configure (issue 19, items 13-14): no tests (cmocka is for tests only), -Werror unless
# TMS_WERROR=OFF (debian/rules); the bash completion of each program is installed.
for prog in tmsctl tms-audit tms-history tms-restore tmsd; do
    check "the bash completion of $prog is installed" test -f "$prefix/share/bash-completion/completions/$prog"
done
if cmake -S "$src" -B "$tmp/plain" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$tmp/plain.log" 2>&1; then
    check "a plain configure builds no tests" grep -q '^TMS_TESTS:BOOL=OFF' "$tmp/plain/CMakeCache.txt"
    check "... and does not look for cmocka" sh -c "! grep -q CMOCKA_ '$tmp/plain/CMakeCache.txt'"
    check "... and registers no test" sh -c "cd '$tmp/plain' && ctest -N | grep -q 'Total Tests: 0'"
    check "... and compiles with -Werror (developer builds)" grep -q -- '-Werror' "$tmp/plain/compile_commands.json"
    cmake -S "$src" -B "$tmp/plain" -DTMS_WERROR=OFF >/dev/null 2>&1
    check "-DTMS_WERROR=OFF (debian/rules) compiles without it" sh -c "! grep -q -- -Werror '$tmp/plain/compile_commands.json'"
else
    bad "a plain configure: $(tail -5 "$tmp/plain.log")"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
