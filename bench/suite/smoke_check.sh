#!/usr/bin/env bash
# bench/suite/smoke_check.sh BENCH — runs `stacks-relay-bench smoke` and checks that it
# produced a complete report: every scenario measured something, every target is stated,
# the HTML is there. Numbers are not judged (the machines are shared and noisy).
set -euo pipefail
bench=$1
out=$(mktemp -d /tmp/stacks-relay-bench-smoke-XXXXXX)
trap 'rm -rf "$out"' EXIT
"$bench" smoke --out "$out"
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
r = json.load(open(f"{d}/result.json"))
problems = []
if not r["smoke"]: problems.append("not marked as a smoke run")
for topo in ("direct", "relay", "reference"):
    if not any(t["topology"] == topo and t["hop"]["n"] > 0 for t in r["tx_flood"]):
        problems.append(f"no transaction deliveries measured for {topo}")
    if not any(b["topology"] == topo and b["last_peer"]["n"] > 0 for b in r["block_bursts"]):
        problems.append(f"no complete block deliveries measured for {topo}")
if not r["mixed"] or r["mixed"][0]["block_last_peer_loaded"]["n"] == 0: problems.append("mixed traffic not measured")
if len(r["fanout"]) < 2 or any(f["tx_hop"]["n"] == 0 for f in r["fanout"]): problems.append("fan-out not measured")
if any(f["floor_beside_sets"] == 0 or f["relay_path_fanout_cpu_ns_per_copy"] <= 0 for f in r["fanout"]):
    problems.append("fan-out: the floor beside the relay or the copies' CPU not measured")
if not any(h["server"] == "relay" and h["requests_per_s"] > 0 and h["errors"] == 0 for h in r["http"]):
    problems.append("HTTP block serving not measured (or had errors)")
if len(r["targets"]) != 15: problems.append(f"{len(r['targets'])} targets stated, expected 15")
if not any(b["topology"] == "relay (one recipient)" and b["dataplane_cpu_ms_per_block"] > 0 for b in r["block_bursts"]):
    problems.append("no dataplane CPU per block measured (one recipient)")
if not r["soak"] or len(r["soak"][0]["samples"]) < 2 or any(x["pushes"] == 0 or x["rss"] == 0 for x in r["soak"][0]["samples"]):
    problems.append("the soak took no samples (or sent nothing)")
elif sum(x["junk_sent"] for x in r["soak"][0]["samples"]) == 0:
    problems.append("the soak's attackers sent nothing")
# Large blocks are checked while they arrive in the real process too.
if not any(b["topology"] == "relay" and b["bytes"] >= 65536 and b["streamed"] > 0 for b in r["block_bursts"]):
    problems.append("no relayed block was checked while it arrived (blocks_streamed stayed 0)")
import os
if os.geteuid() == 0 and not any(b["link_mbps"] > 0 and b["topology"].startswith("relay") and b["first_byte_out"]["n"] > 0
                                 for b in r["block_bursts"]):
    problems.append("the link scenario measured no relayed block")
if os.geteuid() == 0 and not (any(u["at_once"] == 0 and u["last_peer"]["n"] > 0 for u in r["uplink"]) and
                               any(u["at_once"] > 0 and u["last_peer"]["n"] > 0 and u["waited"] > 0 for u in r["uplink"])):
    problems.append("the uplink scenario measured no block both ways (or no copy waited for a slot)")
# The privacy scenario, where it can run (root, and the programs ./deploy/dev.sh deps installs).
if os.geteuid() == 0 and os.access("/usr/sbin/tor", os.X_OK) and os.access("/usr/bin/wireguard-go", os.X_OK):
    for lab, path in (("tor", "direct"), ("tor", "tor"), ("wireguard", "direct"), ("wireguard", "wireguard")):
        rows = [p for p in r["privacy"] if p["lab"] == lab and p["path"] == path]
        if not rows or rows[0]["tx_hop"]["n"] == 0 or rows[0]["block_last_peer"]["n"] == 0:
            problems.append(f"privacy: {lab} / {path} not measured ({r['privacy_note']})")
# The veth scenario (root): the relay on each dataplane backend, side by side.
if os.geteuid() == 0:
    for backend in ("io_uring", "dpdk net_af_xdp", "dpdk net_af_packet"):
        rows = [b for b in r["backends"] if b["backend"] == backend]
        if not rows or rows[0]["tx_hop"]["n"] == 0 or rows[0]["block_last_peer"]["n"] == 0 or rows[0]["top_rate"] <= 0:
            problems.append(f"backends: {backend} not measured ({r['backends_note']})")
        elif backend != "io_uring" and not rows[0]["copied_per_byte"]:
            problems.append(f"backends: {backend} counted no bytes copied into frames (the port's counters)")
    if "Dataplane backends side by side" not in open(f"{d}/report.html").read():
        problems.append("report.html lacks the backends table")
# The failover scenario (root): a pair lost one relay and got it back; its store caught up.
if os.geteuid() == 0:
    rows = r["failover"]
    if not rows or rows[0]["delivered"] == 0 or rows[0]["blocks_missed"] == 0 or rows[0]["catch_up_stored"] == 0:
        problems.append(f"failover: not measured ({r['failover_note']}; {rows[0]['note'] if rows else 'no row'})")
if not any(h["server"] == "relay via nginx cache" and h["requests_per_s"] > 0 and h["errors"] == 0 for h in r["http"]):
    problems.append("HTTP through the caching proxy (deploy/cdn) not measured (or had errors)")
if len(r["gaia"]) < 2 or any(g["files"] == 0 for g in r["gaia"]): problems.append("the Gaia outbox was not measured")
if r["baselines"]["recover_us"] <= 0 or r["baselines"]["sha512_256_mb_s"] <= 0: problems.append("baselines missing")
html = open(f"{d}/report.html").read()
for needle in ("<svg", "Targets", "Transaction flood", "Block bursts", "Fan-out", "HTTP block serving", "Soak", "Privacy transports",
               "Failover", "Gaia mirror"):
    if needle not in html: problems.append(f"report.html lacks {needle!r}")
if problems:
    print("smoke report incomplete:\n  " + "\n  ".join(problems)); sys.exit(1)
print(f"smoke report complete ({r['seconds']:.0f} s)")
PY
