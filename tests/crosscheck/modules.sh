# Sourced by the cross-check scripts (run from this directory): node and the pinned
# packages of package-lock.json, installed on first use; exits 77 (skipped) when node,
# npm or the registry are unavailable.
skip() {
  echo "crosscheck: skipped (${1:-npm unavailable})"
  exit 77
}
command -v node >/dev/null 2>&1 || skip "node unavailable"
command -v npm >/dev/null 2>&1 || skip
need_modules() {
  local m
  for m in "$@"; do
    [[ -d node_modules/$m ]] && continue
    local log
    log=$(mktemp)
    if ! npm ci --no-audit --no-fund --loglevel=error --fetch-retries=1 --fetch-timeout=60000 >"$log" 2>&1; then
      tail -n 8 "$log" >&2
      rm -f "$log"
      skip
    fi
    rm -f "$log"
    return
  done
}
