#!/usr/bin/env bash
# Cross-checks our transaction decoder against @stacks/transactions on 200
# freshly generated transactions. See README.md.
#   env: STACKS_RELAY        decoder binary (default <repo>/build/dev/stacks-relay)
#        CROSSCHECK_COUNT    number of transactions (default 200)
#        CROSSCHECK_SEED     replay a run (the seed is printed on every run)
#        CROSSCHECK_GEN_ARGS extra gen-txs.mjs flags, e.g. "--no-sip044"
# exit: check.mjs's status, or 77 when node/npm are unavailable.
set -euo pipefail

# resolve a relative STACKS_RELAY against the caller's directory before cd
if [[ -n "${STACKS_RELAY:-}" && "${STACKS_RELAY}" != /* ]]; then
  STACKS_RELAY="$PWD/$STACKS_RELAY"
  export STACKS_RELAY
fi
cd "$(dirname "${BASH_SOURCE[0]}")"

# shellcheck source=modules.sh
source ./modules.sh
need_modules @stacks/transactions

txs=$(mktemp)
trap 'rm -f "$txs"' EXIT

seed=${CROSSCHECK_SEED:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
echo "crosscheck: seed $seed (replay: CROSSCHECK_SEED=$seed $0)"
# shellcheck disable=SC2086  # CROSSCHECK_GEN_ARGS is a list of flags
node gen-txs.mjs "${CROSSCHECK_COUNT:-200}" --seed "$seed" ${CROSSCHECK_GEN_ARGS:-} >"$txs"

status=0
node check.mjs "$txs" || status=$?
exit "$status"
