#!/usr/bin/env bash
# The stacks-relay command as an operator uses it: exit status 0 / 2 / 1, one JSON line
# on stdout, exactly one line on stderr for invalid input, stdin and raw-byte input.
set -uo pipefail
bin=${1:?usage: decode_cli_test.sh STACKS_RELAY DATA_DIR}
data=${2:?}
fails=0
check() {  # check NAME EXPECTED ACTUAL
  if [ "$2" != "$3" ]; then echo "FAIL $1: expected [$2] got [$3]"; fails=$((fails + 1)); else echo "ok   $1"; fi
}
vec() { grep -P "^$1\t" "$data/vectors/named.tsv" | cut -f2; }

h4=$(vec H4)
out=$("$bin" decode tx "$h4"); rc=$?
check "tx exit 0" 0 "$rc"
check "tx one line" 1 "$(printf '%s\n' "$out" | wc -l)"
case "$out" in *'"txid":"f52c124178eafc0671411cd110ff5098875a06c47e8fd7929836d4f87fe3dca4"'*) r=yes ;; *) r=no ;; esac
check "tx txid" yes "$r"

out=$(printf '%s\n' "$h4" | "$bin" decode tx -); rc=$?
check "stdin exit 0" 0 "$rc"
out=$(printf "$(printf '%s' "$h4" | sed 's/../\\x&/g')" | "$bin" decode tx --bin); rc=$?
check "--bin exit 0" 0 "$rc"

err=$("$bin" decode tx "${h4:0:100}" 2>&1 >/dev/null); rc=$?
check "truncated exit 2" 2 "$rc"
check "truncated one stderr line" 1 "$(printf '%s\n' "$err" | wc -l)"
case "$err" in *"invalid at byte"*) r=yes ;; *) r=no ;; esac
check "stderr names the byte" yes "$r"

"$bin" decode tx zz >/dev/null 2>&1; check "not hex exit 1" 1 "$?"
"$bin" decode frobnicate 00 >/dev/null 2>&1; check "unknown kind exit 1" 1 "$?"
head -c 3000000 /dev/urandom | "$bin" decode message --bin >/dev/null 2>&1; rc=$?
check "random bytes exit 2" 2 "$rc"
head -c 40000000 /dev/zero | "$bin" decode message >/dev/null 2>&1; rc=$?
check "oversized input refused" 1 "$rc"

for k in message nakamoto-block block microblock stackerdb-chunk; do
  "$bin" decode "$k" 00 >/dev/null 2>&1; check "$k garbage exit 2" 2 "$?"
done
m1=$(vec M1)
out=$("$bin" decode message "$m1"); check "message exit 0" 0 "$?"
case "$out" in *'"signature_valid":true'*) r=yes ;; *) r=no ;; esac
check "message signature valid" yes "$r"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=$("$bin" keygen --out "$tmp/key"); check "keygen exit 0" 0 "$?"
check "key file mode" 600 "$(stat -c %a "$tmp/key")"
check "key file is 64 hex" 64 "$(tr -d '\n' < "$tmp/key" | wc -c)"
"$bin" keygen --out "$tmp/key" >/dev/null 2>&1; check "keygen refuses to overwrite" 1 "$?"

# run refuses p2p.cpus naming a CPU the relay may not use, before starting anything.
printf '[frontier]\nbootstrap = []\n[p2p]\ncpus = [0, 1023]\n' > "$tmp/cpus.toml"
err=$(timeout 20 "$bin" run --config "$tmp/cpus.toml" --p2p-bind 127.0.0.1:0 --data-dir "$tmp/data" \
      --shm "/dev/shm/stacks-relay-cli-test-$$" 2>&1 >/dev/null); rc=$?
check "run with an absent CPU exits 2" 2 "$rc"
case "$err" in *"p2p.cpus: CPU 1023 is not one this relay may run on"*) r=yes ;; *) r=no ;; esac
check "run names the CPU" yes "$r"
case "$err" in *"started"*) r=yes ;; *) r=no ;; esac
check "run started nothing" no "$r"

echo "decode_cli_test: $fails failure(s)"
[ "$fails" -eq 0 ]
