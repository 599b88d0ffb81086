#!/usr/bin/env bash
# deploy/check-deps.sh passes on this tree, and fails (naming the line) on a copy of it
# given each kind of forbidden dependency.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
check="$root/deploy/check-deps.sh"
"$check" "$root" >/dev/null || { echo "FAIL: the tree breaks its own dependency rules"; "$check" "$root"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expect_fail() {  # FILE LINE: the copy with LINE appended to FILE must fail, naming it
  local file=$1 line=$2 out
  rm -rf "$tmp/tree" && mkdir -p "$tmp/tree"
  cp -r "$root/relay" "$root/dataplane" "$root/control" "$tmp/tree/"
  printf '%s\n' "$line" >>"$tmp/tree/$file"
  if out=$("$check" "$tmp/tree"); then echo "FAIL: $file + '$line' passed"; exit 1; fi
  grep -qF "$line" <<<"$out" || { echo "FAIL: the report does not name '$line':"; echo "$out"; exit 1; }
}
expect_fail dataplane/main.cpp '#include "control/engine/control_engine.hpp"'
expect_fail dataplane/CMakeLists.txt 'target_link_libraries(relay_dp PUBLIC relay_ctl_session)'
expect_fail control/main.cpp '#include "dataplane/engine/relay_engine.hpp"'
expect_fail control/CMakeLists.txt 'target_link_libraries(relay_cli PUBLIC relay_dp)'
expect_fail relay/link/link.hpp '#include "control/session/conversation.hpp"'
expect_fail relay/CMakeLists.txt 'target_link_libraries(relay_core PUBLIC relay_cli)'
expect_fail dataplane/transport/uring/uring_transport.hpp '#include <liburing.h>'
expect_fail dataplane/engine/relay_engine.hpp '#include <rte_mbuf.h>'
echo "dependency rules: enforced"
