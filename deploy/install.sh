#!/usr/bin/env bash
# deploy/install.sh — install a built stacks-relay for a service manager, least privilege
# included (README "Security"):
#
#   - the programs (stacks-relay, stacks-relay-dataplane, stacks-relay-control) into
#     PREFIX/bin (default /usr/local/bin, where the systemd units look for them);
#   - the system user and group the processes become after setting up (default
#     stacks-relay): no login shell, no home directory, a system uid;
#   - /etc/stacks-relay/relay.toml from the example when there is none (never overwritten),
#     readable by root and that group only; /var/lib/stacks-relay owned by the user, 0750;
#   - with --units, the systemd units into /etc/systemd/system (then `systemctl
#     daemon-reload` when installing into the running system).
#
# Usage: deploy/install.sh [--build-dir DIR] [--prefix DIR] [--user NAME] [--units]
#                          [--root DIR] [--no-build]
#   --build-dir DIR  where the programs were built (default build/release; built first
#                    with `deploy/dev.sh build release` unless --no-build)
#   --root DIR       install under DIR instead of / (a staging tree: the user is added
#                    to DIR/etc/passwd and DIR/etc/group, which must exist)
# Run it again at any time: what exists is kept (the user, the configuration).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$here/build/release"
prefix=/usr/local
user=stacks-relay
root=/
units=0
build=1

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build_dir=$(cd "${2:?--build-dir needs a directory}" && pwd); shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --user) user=${2:?--user needs a name}; shift 2 ;;
    --root) root=$(cd "${2:?--root needs a directory}" && pwd); shift 2 ;;
    --units) units=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (try --help)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (it adds a system user and sets file owners)"
case $user in
  ''|root) die "--user must name an unprivileged user, not '${user}'" ;;
  *[!a-z0-9_-]*) die "--user '$user': use lower-case letters, digits, '-' and '_'" ;;
esac
dest() { if [ "$root" = / ]; then printf '%s' "$1"; else printf '%s%s' "$root" "$1"; fi; }

programs=(stacks-relay stacks-relay-dataplane stacks-relay-control)
if [ $build -eq 1 ] && [ ! -x "$build_dir/stacks-relay" ]; then
  "$here/deploy/dev.sh" build release
fi
for p in "${programs[@]}"; do
  [ -x "$build_dir/$p" ] || die "$build_dir/$p is missing: build first (deploy/dev.sh build release) or give --build-dir"
done

# The user and its group.
passwd_file=$(dest /etc/passwd)
[ -f "$passwd_file" ] || die "$passwd_file does not exist"
if grep -q "^$user:" "$passwd_file"; then
  log "user $user exists: kept"
else
  args=(--system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin)
  [ "$root" = / ] || args+=(--prefix "$root")
  # Its own group, or the group of that name if one exists already.
  if grep -q "^$user:" "$(dest /etc/group)"; then args+=(--gid "$user"); else args+=(--user-group); fi
  useradd "${args[@]}" "$user" || die "useradd $user failed"
  log "added system user $user"
fi
uid=$(awk -F: -v u="$user" '$1 == u { print $3 }' "$passwd_file")
gid=$(awk -F: -v u="$user" '$1 == u { print $4 }' "$passwd_file")
[ -n "$uid" ] && [ "$uid" != 0 ] || die "user $user has uid '${uid}': refusing"

# The programs.
install -d -m 0755 "$(dest "$prefix/bin")"
for p in "${programs[@]}"; do
  install -m 0755 "$build_dir/$p" "$(dest "$prefix/bin/$p")"
done
log "programs in $prefix/bin"

# Configuration (root-owned, readable by the relay's group) and the data directory.
conf_dir=$(dest /etc/stacks-relay)
install -d -m 0750 -o 0 -g "$gid" "$conf_dir"
if [ -e "$conf_dir/relay.toml" ]; then
  log "/etc/stacks-relay/relay.toml exists: kept"
else
  install -m 0640 -o 0 -g "$gid" "$here/deploy/config/relay.toml.example" "$conf_dir/relay.toml"
  # Another user than the default: named in [process], so the processes become it.
  if [ "$user" != stacks-relay ]; then sed -i "s|^# user = \"stacks-relay\"\$|user = \"$user\"|" "$conf_dir/relay.toml"; fi
  log "/etc/stacks-relay/relay.toml from the example: review it (p2p.peers, http.public_url, rewards.node_rpc)"
fi
data_dir=$(dest /var/lib/stacks-relay)
install -d -m 0750 -o "$uid" -g "$gid" "$data_dir"
log "/var/lib/stacks-relay owned by $user"

if [ $units -eq 1 ]; then
  unit_dir=$(dest /etc/systemd/system)
  install -d -m 0755 "$unit_dir"
  for u in "$here"/deploy/systemd/*; do
    sed -e "s|/usr/local/bin/|$prefix/bin/|g" -e "s|^User=stacks-relay\$|User=$user|" \
        -e "s|^Group=stacks-relay\$|Group=$user|" "$u" > "$unit_dir/$(basename "$u")"
    chmod 0644 "$unit_dir/$(basename "$u")"
  done
  log "systemd units in /etc/systemd/system: enable ONE model, stacks-relay.service or stacks-relay-split.target"
  if [ "$root" = / ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
fi
log "done: the relay runs as $user (uid $uid)"
