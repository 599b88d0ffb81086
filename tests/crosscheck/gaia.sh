#!/usr/bin/env bash
# The Gaia mirror against the official client @stacks/storage (gaia.mjs; README.md).
#   gaia.sh check                          needs STACKS_RELAY and GAIA_HUB_STANDIN (binaries):
#                                          starts the hub stand-in, runs gaia.mjs check
#   gaia.sh read HUB_URL KEY_HEX PATH=SHA256...
# exit: gaia.mjs's status, or 77 when node/npm are unavailable.
set -euo pipefail
for v in STACKS_RELAY GAIA_HUB_STANDIN; do
  if [[ -n "${!v:-}" && "${!v}" != /* ]]; then
    printf -v "$v" '%s' "$PWD/${!v}"
    export "${v?}"
  fi
done
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=modules.sh
source ./modules.sh
need_modules @stacks/storage jsontokens

if [[ "${1:-}" == read ]]; then
  shift
  exec node gaia.mjs read "$@"
fi
[[ "${1:-}" == check ]] || { echo "usage: gaia.sh check | read HUB_URL KEY_HEX PATH=SHA256..." >&2; exit 2; }
: "${STACKS_RELAY:?the stacks-relay binary}" "${GAIA_HUB_STANDIN:?the gaia-hub-standin binary}"
# The stand-in on a free loopback port, stopped by its PID (and by its stdin closing).
coproc HUB { exec "$GAIA_HUB_STANDIN" --host 127.0.0.1 --port 0; }
hub_pid=$HUB_PID
trap 'kill "$hub_pid" 2>/dev/null || true' EXIT
read -r -t 10 word port <&"${HUB[0]}" || { echo "gaia crosscheck: the hub stand-in did not start" >&2; exit 1; }
[[ "$word" == HUB ]] || { echo "gaia crosscheck: unexpected '$word $port' from the stand-in" >&2; exit 1; }
node gaia.mjs check "http://127.0.0.1:$port" "$STACKS_RELAY"
