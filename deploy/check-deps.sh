#!/usr/bin/env bash
# deploy/check-deps.sh — the dependency rules of ARCHITECTURE.md §7, checked on the
# sources and on the build files (CI runs it; so can anyone, from any directory):
#   relay/      includes and links nothing of dataplane/ or control/
#   dataplane/  includes and links nothing of control/
#   control/    includes and links nothing of dataplane/
#   liburing and DPDK headers are included only by the .cpp files of their backends
#   (dataplane/transport/uring/, dataplane/transport/dpdk/): no user sees them
# Usage: check-deps.sh [ROOT] (default: this checkout). Exit 1 with every offending
# line listed, 0 when the tree keeps them.
set -uo pipefail
cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" || exit 2

fail=0
# forbid FOLDER PATTERN WHAT: any match of PATTERN under FOLDER breaks the rule.
forbid() {
  local folder=$1 pattern=$2 what=$3 hits
  hits=$(grep -rnE "$pattern" "$folder" --include='*.cpp' --include='*.hpp' --include='*.h' --include='CMakeLists.txt' || true)
  if [[ -n $hits ]]; then
    printf '%s must not depend on %s:\n%s\n' "$folder/" "$what" "$hits"
    fail=1
  fi
}
# Sources: project includes are written from the root ("control/…", "dataplane/…").
# Build files: the control plane's libraries are relay_ctl_* and relay_cli; the
# dataplane's is relay_dp.
forbid relay     '#include "(control|dataplane)/|\b(relay_ctl_[a-z_]+|relay_cli|relay_dp)\b' 'dataplane/ or control/'
forbid dataplane '#include "control/|\b(relay_ctl_[a-z_]+|relay_cli)\b'                     'control/'
forbid control   '#include "dataplane/|\brelay_dp\b'                                         'dataplane/'
hits=$(grep -rnE '#include <(liburing|rte_)' relay dataplane control --include='*.cpp' --include='*.hpp' --include='*.h' |
       grep -vE '^dataplane/transport/(uring|dpdk)/[^:]*\.cpp:' || true)
if [[ -n $hits ]]; then
  printf 'liburing/DPDK headers outside their backends'"'"' .cpp files:\n%s\n' "$hits"
  fail=1
fi
if [[ $fail -eq 0 ]]; then echo "dependency rules hold"; fi
exit $fail
