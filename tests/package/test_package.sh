#!/bin/sh
# test_package.sh -- the Debian packages (issue 12, item 2), container-free:
# builds them with `dpkg-buildpackage -us -uc -b` in a copy of the tree, runs
# lintian (errors fail the test; warnings are printed), unpacks the .debs into
# a scratch root with `dpkg -x` and checks there:
#   - the programs, tmsd.service, the man pages, /etc/default/tmsperm;
#   - the packaged tmsd started as systemd would (NOTIFY_SOCKET): READY=1, a clean stop;
#   - the maintainer scripts create user tmsperm (systemd-sysusers) and enable tmsd;
#   - libtmsperm0's library and libtmsperm-dev's headers, link and tmsperm.pc:
#     examples/embedded/pbx_check.c built with pkg-config against the unpacked
#     files answers a check on data written by the unpacked tmsctl, and (as root) as another
#     user in the writer's group (lock.mdb 0660; outside the group: exit 2, Permission denied);
#   - debian/changelog's version is the project's (CMakeLists.txt).
#
# usage: test_package.sh SOURCE_DIR   (needs dpkg-dev, debhelper, lintian: scripts/test installs them)
set -u
src=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tms-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" = 0 ] && [ "$passed" -gt 0 ]; exit $?; }

for tool in dpkg-buildpackage dh lintian; do
    command -v "$tool" >/dev/null || { bad "$tool is not installed (scripts/bootstrap dpkg-dev debhelper lintian)"; finish; }
done
version=$(sed -n 's/^project(tmsperm VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb_version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
check "debian/changelog's version ($deb_version) is the project's ($version)" test "$deb_version" = "$version"

mkdir -p "$tmp/src/tmsperm"
(cd "$src" && git ls-files -co --exclude-standard) | tar -C "$src" -cf - -T - | tar -C "$tmp/src/tmsperm" -xf -
if ! (cd "$tmp/src/tmsperm" && dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1); then
    bad "dpkg-buildpackage: $(tail -15 "$tmp/build.log")"
    finish
fi
ok
debs=$(ls "$tmp"/src/*.deb | grep -v dbgsym)
check "three packages: tmsperm, libtmsperm0, libtmsperm-dev ($(echo $debs | xargs -n1 basename | tr '\n' ' '))" \
    test "$(echo "$debs" | wc -l)" = 3
lintian --tag-display-limit 0 "$tmp"/src/*.changes >"$tmp/lintian.log" 2>&1
grep '^W:' "$tmp/lintian.log" | sed 's/^/  lintian: /'
check "lintian: no errors ($(grep '^E:' "$tmp/lintian.log" | head -5 | tr '\n' ' '))" sh -c "! grep -q '^E:' '$tmp/lintian.log'"

root=$tmp/root
for deb in $debs; do dpkg -x "$deb" "$root"; done
for f in usr/bin/tmsctl usr/bin/tms-audit usr/bin/tms-history usr/bin/tms-restore usr/bin/tmsd \
         lib/systemd/system/tmsd.service usr/share/man/man8/tmsd.8.gz usr/share/man/man1/tmsctl.1.gz \
         etc/default/tmsperm usr/include/tmsperm.h usr/include/tmsclient.h; do
    check "the packages hold /$f" test -e "$root/$f"
done
check "/usr/bin/tmsd --version" test "$("$root/usr/bin/tmsd" --version)" = "tmsd (tmsperm) $version"

# issue 19, item 14: docs and examples shipped; no -Werror in the package build (CI keeps it); man pages
# with every command's options. Item 11: bash completion; tmsctl's default socket is the unit's.
doc=$root/usr/share/doc/tmsperm
for f in README.md docs/design.md docs/tools.md examples/kamailio/kamailio.cfg examples/embedded/pbx_check.c \
         examples/demo.jsonl; do
    check "the packages hold /usr/share/doc/tmsperm/$f" sh -c "[ -e '$doc/$f' ] || [ -e '$doc/$f.gz' ]"
done
ccs=$(grep -c -- ' -c .*\.c$' "$tmp/build.log")   # (dpkg-buildflags' -Werror=format-security is not -Werror)
werror=$(grep -- ' -c .*\.c$' "$tmp/build.log" | grep -c -- '-Werror\( \|$\)')
check "the package build compiles without -Werror ($werror of $ccs compiler lines have it)" \
    sh -c "[ '$ccs' -gt 0 ] && [ '$werror' = 0 ]"
check "tms-audit(1) holds each command's options (report --format)" sh -c \
    "zcat '$root/usr/share/man/man1/tms-audit.1.gz' | grep -q 'tms\\\\-audit report'"
comp=$root/usr/share/bash-completion/completions
for prog in tmsctl tms-audit tms-history tms-restore tmsd; do
    check "the packages hold the bash completion of $prog" bash -n "$comp/$prog"
done
got=$(bash -c 'source "$1"; COMP_WORDS=(tmsctl ch); COMP_CWORD=1; _tmsctl; echo "${COMPREPLY[*]}"' bash "$comp/tmsctl")
check "the packaged completion completes 'tmsctl ch' (got '$got')" test "$got" = "checkpoint check"
sock=$("$root/usr/bin/tmsctl" --help | sed -n 's/.*else at \([^ ]*\) when it exists.*/\1/p')
check "tmsctl's default socket ($sock) is the one tmsd.service serves" \
    grep -q -- "--socket $sock " "$root/lib/systemd/system/tmsd.service"
ctrl=$tmp/ctrl
dpkg -e "$(echo "$debs" | grep '/tmsperm_')" "$ctrl"
check "tmsperm's postinst creates the user (systemd-sysusers)" grep -q 'systemd-sysusers' "$ctrl/postinst"
check "tmsperm's postinst enables and starts tmsd.service" grep -q 'tmsd.service' "$ctrl/postinst"
check "tmsperm depends on libsystemd0 and libh2o (shlibs)" sh -c \
    "dpkg -I '$(echo "$debs" | grep '/tmsperm_')' | grep -q 'Depends:.*libsystemd0.*' "

# the packaged tmsd as systemd starts it (Type=notify): READY=1 on $NOTIFY_SOCKET, a clean stop
if python3 - "$root/usr/bin/tmsd" "$tmp" <<'PY'
import os, signal, socket, subprocess, sys
tmsd, tmp = sys.argv[1], sys.argv[2]
path = os.path.join(tmp, "notify")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(15)
p = subprocess.Popen([tmsd, "--data", os.path.join(tmp, "svc")], env=dict(os.environ, NOTIFY_SOCKET=path),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
msg = ""
try:   # EXTEND_TIMEOUT_USEC and STATUS may come first (a long open says how far it is)
    while "READY=1" not in msg:
        msg = s.recv(4096).decode()
finally:
    p.send_signal(signal.SIGTERM)
sys.exit(0 if "READY=1" in msg and p.wait(timeout=30) == 0 else 1)
PY
then ok; else bad "the packaged tmsd: READY=1 on NOTIFY_SOCKET, then exit 0 on SIGTERM"; fi

# The documented setup (issue 19, item 1): the writer one user under the unit's UMask=0027, the PBX
# process another user in the writer's group (tmsperm when installed; here uid daemon and nobody in
# group nogroup, as nothing is installed). Needs root and setpriv: skipped (said) otherwise.
group_reader() {
    libdir=$1
    if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null || ! getent group nogroup >/dev/null; then
        echo "  (the group reader is not checked: needs root, setpriv and group nogroup)"
        return
    fi
    chmod 0755 "$tmp"
    mkdir -m 0750 "$tmp/shared" && chown daemon:nogroup "$tmp/shared"
    printf '%s\n' '{"cmd":"CreateTenant","tenant":"acme","actor":"system","admin":"admin"}' \
        '{"cmd":"CreateExtension","tenant":"acme","actor":"admin","id":"1001"}' \
        '{"cmd":"SetPermissions","tenant":"acme","actor":"admin","kind":"extension","id":"1001","enable":["recordings.listen"],"disable":[]}' |
        setpriv --reuid=daemon --regid=nogroup --clear-groups sh -c 'umask 027; exec "$0" --data "$1" submit' \
            "$root/usr/bin/tmsctl" "$tmp/shared" >/dev/null 2>&1
    check "lock.mdb is 0660 for the group's readers ($(stat -c %a "$tmp/shared/proj/lock.mdb" 2>&1))" \
        test "$(stat -c %a "$tmp/shared/proj/lock.mdb" 2>&1)" = 660
    out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups env LD_LIBRARY_PATH="$libdir" \
        "$tmp/pbx_check" "$tmp/shared" acme extension 1001 recordings.listen 2>&1)
    check "pbx_check as another user in the writer's group: allow (got '$out')" test "$out" = allow
    out=$(setpriv --reuid=nobody --regid=bin --clear-groups env LD_LIBRARY_PATH="$libdir" \
        "$tmp/pbx_check" "$tmp/shared" acme extension 1001 recordings.listen 2>&1)
    rc=$?
    check "pbx_check outside the group: exit 2, Permission denied said (got $rc '$out')" \
        sh -c "[ $rc = 2 ] && echo \"\$0\" | grep -q 'Permission denied'" "$out"
}

pc=$(find "$root" -name tmsperm.pc | head -1)
check "libtmsperm-dev holds tmsperm.pc" test -n "$pc"
lib=$(find "$root" -name "libtmsperm.so.0" | head -1)
check "libtmsperm0 holds libtmsperm.so.0" test -n "$lib"
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs tmsperm)
# shellcheck disable=SC2086
if cc -std=c11 -Wall -Wextra -Werror "$src/examples/embedded/pbx_check.c" $flags -o "$tmp/pbx_check" 2>"$tmp/cc.err"; then
    ok
    printf '%s\n' '{"cmd":"CreateTenant","tenant":"acme","actor":"system","admin":"admin"}' \
        '{"cmd":"CreateExtension","tenant":"acme","actor":"admin","id":"1001"}' \
        '{"cmd":"SetPermissions","tenant":"acme","actor":"admin","kind":"extension","id":"1001","enable":["calls.international"],"disable":[]}' |
        "$root/usr/bin/tmsctl" --data "$tmp/data" submit >/dev/null 2>&1
    out=$(LD_LIBRARY_PATH=$(dirname "$lib") "$tmp/pbx_check" "$tmp/data" acme extension 1001 calls.international 2>&1)
    check "pbx_check through the packaged library: allow (got '$out')" test "$out" = allow
    out=$(LD_LIBRARY_PATH=$(dirname "$lib") "$tmp/pbx_check" "$tmp/data" acme extension 1001 recordings.listen 2>&1)
    check "pbx_check through the packaged library: deny (got '$out')" test "$out" = deny
    group_reader "$(dirname "$lib")"
else
    bad "pbx_check.c against the packaged headers and library: $(head -5 "$tmp/cc.err")"
fi
finish
