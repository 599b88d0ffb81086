#!/usr/bin/env bash
# deploy/install.sh into a staging root: the relay's system user and group are created
# (no shell, no home, a system uid), the programs installed, the configuration written
# from the example readable by root and that group only, the data directory owned by the
# user, the units pointed at the programs and the user; a second run keeps the user and
# an edited configuration; a bad user name or a missing build is refused with a message.
# Usage: install_test.sh BUILD_DIR. Skipped (77) when not root or useradd is missing.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: install_test.sh BUILD_DIR}
[ "$(id -u)" -eq 0 ] || { echo "needs root: skipped"; exit 77; }
command -v useradd >/dev/null 2>&1 || { echo "useradd missing: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

root=$tmp/root
mkdir -p "$root/etc"
cp /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/login.defs "$root/etc/" 2>/dev/null
user=srtest$$
run() { bash "$src/deploy/install.sh" --no-build --build-dir "$build" --root "$root" "$@"; }

run --user "$user" --units --prefix /opt/relay > "$tmp/out1" 2>&1; rc=$?
check "first run succeeds" '[ $rc -eq 0 ] || { cat "$tmp/out1"; false; }'
line=$(grep "^$user:" "$root/etc/passwd")
uid=$(echo "$line" | cut -d: -f3); gid=$(echo "$line" | cut -d: -f4)
check "user added to the staging root only" '[ -n "$line" ] && ! grep -q "^$user:" /etc/passwd'
check "system uid, no login shell, no home" '[ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] && [ "$(echo "$line" | cut -d: -f7)" = /usr/sbin/nologin ] && [ "$(echo "$line" | cut -d: -f6)" = /nonexistent ]'
check "its own group" 'grep -q "^$user:x:$gid:" "$root/etc/group"'
for p in stacks-relay stacks-relay-dataplane stacks-relay-control; do
  check "program $p installed" '[ -x "$root/opt/relay/bin/$p" ] && cmp -s "$root/opt/relay/bin/$p" "$build/$p"'
done
conf=$root/etc/stacks-relay/relay.toml
check "configuration from the example, 0640 root:$user" '[ "$(stat -c "%a %u %g" "$conf")" = "640 0 $gid" ]'
check "configuration names the user" 'grep -q "^user = \"$user\"$" "$conf"'
# (status exits 2 on a configuration it cannot load, 1 when no relay runs)
"$build/stacks-relay" status --config "$conf" --data-dir "$tmp/none" > "$tmp/status" 2>&1; rc=$?
check "configuration loads" '[ $rc -eq 1 ] && grep -q "no running relay" "$tmp/status"'
check "data directory 0750 owned by the user" '[ "$(stat -c "%a %u %g" "$root/var/lib/stacks-relay")" = "750 $uid $gid" ]'
check "units point at the programs and the user" 'grep -q "^ExecStart=/opt/relay/bin/stacks-relay-dataplane " "$root/etc/systemd/system/stacks-relay-dataplane.service" && grep -q "^User=$user$" "$root/etc/systemd/system/stacks-relay-control.service" && grep -q "^Group=$user$" "$root/etc/systemd/system/stacks-relay-shm.service"'

echo "# edited" >> "$conf"
run --user "$user" > "$tmp/out2" 2>&1; rc=$?
check "second run succeeds and keeps what exists" '[ $rc -eq 0 ] && grep -q "user $user exists: kept" "$tmp/out2" && grep -q "relay.toml exists: kept" "$tmp/out2"'
check "user not added twice" '[ "$(grep -c "^$user:" "$root/etc/passwd")" = 1 ]'
check "edited configuration kept" 'tail -1 "$conf" | grep -q "# edited"'

run --user root > "$tmp/out3" 2>&1; rc=$?
check "root refused as the user" '[ $rc -ne 0 ] && grep -q "unprivileged user" "$tmp/out3"'
bash "$src/deploy/install.sh" --no-build --build-dir "$tmp" --root "$root" --user "$user" > "$tmp/out4" 2>&1; rc=$?
check "a missing build refused, named" '[ $rc -ne 0 ] && grep -q "$tmp/stacks-relay is missing" "$tmp/out4"'
exit $fail
