#!/usr/bin/env bash
# deploy/dev.sh — one entry point for building and testing stacks-relay on Debian 12.
#
#   ./deploy/dev.sh deps            install every missing Debian package the project needs
#   ./deploy/dev.sh test            deps, configure + build (preset dev), run all tests
#   ./deploy/dev.sh build [PRESET]  configure + build one preset (dev, release, asan, fuzz)
#   ./deploy/dev.sh asan            build with Address/UB sanitizers and run the tests
#   ./deploy/dev.sh fuzz [SECONDS]  build the libFuzzer targets (clang-14), run each one
#   ./deploy/dev.sh bench [ARGS]    release build, run the micro-benchmarks (ARGS go to them)
#   ./deploy/dev.sh bench-suite [ARGS]
#                                   release build plus iperf3 and nginx (the suite's
#                                   baselines); runs stacks-relay-bench (ARGS go to it,
#                                   default: run --out bench-results)
#   ./deploy/dev.sh demo [ARGS]     release build; the relay on 127.0.0.1 with simulated nodes
#                                   around it, live statistics until Ctrl-C (ARGS go to
#                                   stacks-relay-simnet, e.g. --peers 32 --tx-rate 1000)
#
# Every command installs what is missing first, so it works on a fresh machine.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

# Build and test dependencies (DPDK's development packages for the DPDK backend, and
# ethtool, ping and nft for its tests against Linux TCP; mptcpize runs a stock program over MPTCP
# in the MPTCP tests).
packages=(
  build-essential cmake ninja-build pkg-config git python3
  libssl-dev libsecp256k1-dev libxxhash-dev libjemalloc-dev liburing-dev
  libdpdk-dev dpdk-dev libbpf-dev libtomlplusplus-dev libcli11-dev liblmdb-dev libisal-dev libhttp-parser-dev curl
  libcurl4-openssl-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  mptcpize ethtool iputils-ping nftables
)

# The real programs the privacy tests run (issue 16): Tor, I2P, WireGuard in user space, two
# SOCKS5 servers, and tcpdump to look at the wire; and nginx, the caching proxy in front
# of a relay pair (the HTTP failover test). Their daemons must never start on their own:
# a packaged tor would reach the public Tor network. The tests start each one with a
# configuration of their own, offline.
privacy_packages=(tor microsocks dante-server i2pd wireguard-go wireguard-tools tcpdump nginx)

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else log "need root to run: $*"; exit 1
  fi
}

install_packages() {
  local missing=()
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  # Node.js and npm run the @stacks/transactions cross-check; any recent node will do.
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
  fi
  local daemons=()
  for p in "${privacy_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || daemons+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ] && [ ${#daemons[@]} -eq 0 ]; then
    log "all $(( ${#packages[@]} + ${#privacy_packages[@]} )) packages already installed"
    return
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  if [ ${#missing[@]} -ne 0 ]; then
    log "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  if [ ${#daemons[@]} -ne 0 ]; then
    log "installing (services not started): ${daemons[*]}"
    install_without_services "${daemons[@]}"
  fi
}

# lwIP, the DPDK backend's TCP (issue 19), is built from Debian's *source* package with
# the project's own lwipopts.h (the binary package is the Hurd's build: threads, core
# locking, small windows). Fetched once into a cache outside the tree, never committed:
# apt-get source through a deb-src list and package lists of its own, so the machine's
# apt sources stay as they are. CMake finds it at the same place (RELAY_LWIP_DIR).
lwip_version=2.1.3+dfsg1-2
cache_dir() { echo "${RELAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stacks-relay}"; }

fetch_lwip() {
  local cache dest
  cache=$(cache_dir)
  dest="$cache/lwip-$lwip_version"
  if [ -f "$dest/src/core/tcp.c" ]; then return; fi
  for p in dpkg-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p"
  done
  log "fetching lwIP $lwip_version (Debian source package) into $dest"
  local work
  work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$cache"
  # The suites of the machine's own Debian sources, as deb-src.
  echo "deb-src http://deb.debian.org/debian bookworm main" > "$work/sources.list"
  local apt_opts=(-q -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
                  -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root)
  if ! apt-get "${apt_opts[@]}" update >"$work/log" 2>&1 ||
     ! (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "lwip=$lwip_version" >>"$work/log" 2>&1) ||
     ! (cd "$work" && dpkg-source -x "lwip_${lwip_version}.dsc" lwip >>"$work/log" 2>&1); then
    log "could not fetch lwIP's source package (the DPDK backend needs it):"; cat "$work/log" >&2
    rm -rf "$work"; exit 1
  fi
  rm -rf "$dest"
  mv "$work/lwip" "$dest"
  rm -rf "$work"
}

cmd_deps() {
  install_packages
  fetch_lwip
}

# install_without_services: apt-get install with every service start refused (a
# policy-rc.d that says no, which invoke-rc.d and deb-systemd-invoke both ask), then the
# units disabled, so nothing runs until a test starts it with its own configuration.
install_without_services() {
  local guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# stacks-relay deploy/dev.sh: no service starts while installing\nexit 101\n' |
      as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    guard=1
  fi
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" || rc=$?
  if [ -n "$guard" ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
  if command -v systemctl >/dev/null 2>&1; then
    as_root systemctl disable --now tor.service tor@default.service i2pd.service danted.service nginx.service >/dev/null 2>&1 || true
  fi
  # Without systemd (a container), a daemon an init script started anyway is stopped.
  as_root pkill -x tor >/dev/null 2>&1 || true
  as_root pkill -x i2pd >/dev/null 2>&1 || true
  as_root pkill -x danted >/dev/null 2>&1 || true
  as_root pkill -x nginx >/dev/null 2>&1 || true
  return $rc
}

jobs() { nproc 2>/dev/null || echo 2; }

cmd_build() {
  local preset=${1:-dev}
  log "configure + build preset '$preset'"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$(jobs)"
}

cmd_test() {
  cmd_deps
  cmd_build dev
  log "running tests (preset dev)"
  ctest --preset dev -j "$(jobs)"
}

cmd_asan() {
  cmd_deps
  cmd_build asan
  log "running tests under ASan/UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --preset asan -j "$(jobs)" -LE crosscheck
}

cmd_fuzz() {
  local secs=${1:-30}
  cmd_deps
  if ! command -v clang++-14 >/dev/null 2>&1; then
    log "clang++-14 not found: skipping the fuzz run"
    return 0
  fi
  cmd_build fuzz
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  local status=0
  for t in message tx nakamoto_block stacks_block clarity link push http_request http_server dialogue; do
    cp -r "tests/fuzz/corpus/$t" "$work/$t"
    log "fuzzing $t for ${secs}s"
    if ! "build/fuzz/tests/fuzz/${t}_fuzz" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
         -artifact_prefix="$work/$t-" "$work/$t" >"$work/$t.log" 2>&1; then
      log "fuzzer $t FAILED:"; tail -n 40 "$work/$t.log" >&2
      mkdir -p build/fuzz-artifacts && cp "$work/$t"-* build/fuzz-artifacts/ 2>/dev/null || true
      status=1
    else
      grep -E '^Done|stat::number_of_executed_units' "$work/$t.log" | tail -n 1 >&2 || true
    fi
  done
  return $status
}

cmd_bench() {
  cmd_deps
  cmd_build release
  ./build/release/bench/relay_micro_bench "$@"
}

# The benchmark suite's baselines need two more packages (not needed to build or test).
bench_packages=(iperf3 nginx)

cmd_bench_suite() {
  cmd_deps
  local missing=()
  for p in "${bench_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -ne 0 ]; then
    log "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    # The suite starts its own nginx; the packaged service is not wanted.
    as_root systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
  cmd_build release
  if [ $# -eq 0 ]; then set -- run --out bench-results; fi
  ./build/release/stacks-relay-bench "$@"
}

cmd_demo() {
  cmd_deps
  cmd_build release
  # Globals: the EXIT trap runs after this function has returned.
  b=build/release port=${DEMO_PORT:-20444}
  work=$(mktemp -d /tmp/stacks-relay-demo-XXXXXX)
  chmod 711 "$work"  # the relay drops root to an unprivileged user: its data dir must be reachable
  shm="/dev/shm/stacks-relay-demo-$$" relay_pid=""
  stop_demo() {
    if [ -n "$relay_pid" ] && kill -0 "$relay_pid" 2>/dev/null; then
      log "final relay counters:"
      "$b/stacks-relay" status --shm "$shm" --data-dir "$work/data" || true
      kill -TERM "$relay_pid" 2>/dev/null || true
      wait "$relay_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
  }
  trap stop_demo EXIT
  trap 'exit 0' INT TERM
  # The simulated miners sign blocks with a reward set of their own; the relay checks
  # Nakamoto blocks against it (a static reward-set file, as on a private network).
  "$b/stacks-relay-simnet" --write-reward-set "$work/reward-set.txt"
  cat >"$work/relay.toml" <<TOML
[node]
data_dir = "$work/data"
[p2p]
bind = "127.0.0.1:$port"
[rewards]
reward_set_file = "$work/reward-set.txt"
[frontier]
# A closed demo: no mainnet seeds; the simulated nodes all connect from 127.0.0.1.
bootstrap = []
private_neighbors = true
max_inbound_per_ip = 64
TOML
  log "starting the relay on 127.0.0.1:$port (config $work/relay.toml, log $work/relay.log)"
  # Its own session: Ctrl-C reaches the simulated nodes, and the relay is stopped after
  # its final counters are printed.
  setsid "$b/stacks-relay" run --config "$work/relay.toml" --shm "$shm" >"$work/relay.out" 2>"$work/relay.log" &
  relay_pid=$!
  local i
  for i in $(seq 100); do
    grep -q '^READY' "$work/relay.out" 2>/dev/null && break
    sleep 0.1
  done
  if ! grep -q '^READY' "$work/relay.out" 2>/dev/null; then
    log "the relay did not start (is port $port taken? set DEMO_PORT):"
    cat "$work/relay.log" >&2
    exit 1
  fi
  log "simulated Stacks nodes around it; Ctrl-C to stop"
  "$b/stacks-relay-simnet" --relay "127.0.0.1:$port" --relay-shm "$shm" --peers 8 --tx-rate 200 --block-every 5 "$@" || true
}

case "${1:-}" in
  deps) cmd_deps ;;
  build) shift; cmd_deps; cmd_build "${1:-dev}" ;;
  test) cmd_test ;;
  asan) cmd_asan ;;
  fuzz) shift; cmd_fuzz "${1:-30}" ;;
  bench) shift; cmd_bench "$@" ;;
  bench-suite) shift; cmd_bench_suite "$@" ;;
  demo) shift; cmd_demo "$@" ;;
  *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 64 ;;
esac
