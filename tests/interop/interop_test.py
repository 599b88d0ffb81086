#!/usr/bin/env python3
"""End-to-end interop test: the relay against independently written stock-node peers.

    python3 tests/interop/interop_test.py --relay-bin PATH/TO/stacks-relay [-v]

The peers (tests/interop/stacks_peer.py) were written from PROTOCOL.md alone. Scenario:
  1. start `stacks-relay run` on 127.0.0.1 (random port), wait for `READY <port> <pid>`;
  2. peers A, B, C (random keys) dial it and complete handshakes (Accept signatures are
     verified against the key they carry, preambles validated per §4.3);
  3. A pushes a real mainnet token transfer with an empty relayers vector; B and C must each
     get exactly one Transaction, byte-identical tx, signed by the relay's key, relayers =
     [relay entry], seq different from A's; A must get no echo;
  4. peer D handshakes, then pushes a Transaction whose signature is corrupted: the relay must
     drop D (§4.8) and must not forward the message;
  5. A pushes the same transaction D tried, stock-node style (relayers = [A's own entry],
     §5.1): B and C must get it with relayers = [A entry, relay entry]; A no echo;
  6. every peer still answers/gets Pong; SIGTERM the relay, exit status must be 0.
Exit status: 0 pass, 1 fail, 77 relay binary missing. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree

import stacks_peer as sp  # noqa: E402

REAL_DATA_TSV = os.path.join(HERE, "..", "data", "real-data", "mainnet-txs.tsv")
READY_TIMEOUT = 30.0
DELIVERY_TIMEOUT = 10.0
GRACE = 2.0            # extra time to catch duplicates / echoes after delivery
STOP_TIMEOUT = 15.0
OVERALL_TIMEOUT = 180.0

VERBOSE = False
T0 = time.monotonic()


def log(text: str) -> None:
    print(f"[{time.monotonic() - T0:7.3f}] {text}", flush=True)


def vlog(text: str) -> None:
    if VERBOSE:
        log(text)


class TestFailure(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise TestFailure(what)
    log(f"ok: {what}")


# -----------------------------------------------------------------------------------------
# Test data
# -----------------------------------------------------------------------------------------

def load_mainnet_txs() -> List[dict]:
    """Rows of mainnet-txs.tsv (real mainnet txs; provenance in real-data/README.md)."""
    with open(REAL_DATA_TSV, encoding="ascii") as fh:
        lines = [ln.rstrip("\n") for ln in fh if ln.strip()]
    header = lines[0].split("\t")
    rows = [dict(zip(header, ln.split("\t"))) for ln in lines[1:]]
    for row in rows:
        row["raw"] = bytes.fromhex(row["raw_tx_hex"])
        # txid = SHA-512/256 of the bytes (§7.1): guards against a corrupted data file.
        if sp.sha512_256(row["raw"]).hex() != row["txid"]:
            raise TestFailure(f"test data: txid mismatch for {row['txid']}")
    return rows


# -----------------------------------------------------------------------------------------
# The relay process
# -----------------------------------------------------------------------------------------

class Relay:
    def __init__(self, binary: str, tmpdir: str):
        self.binary = binary
        self.tmpdir = tmpdir
        self.shm = f"/dev/shm/stacks-relay-interop-{os.getpid()}"
        self.stderr_path = os.path.join(tmpdir, "relay.stderr")
        self.proc: Optional[subprocess.Popen] = None
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.stdout_log: List[str] = []
        self.port: Optional[int] = None
        self.ready_pid: Optional[int] = None

    def start(self) -> None:
        # No mainnet seeds (the test stays on this machine); peers come from 127.0.0.1.
        cfg = os.path.join(self.tmpdir, "relay.toml")
        with open(cfg, "w") as f:
            f.write("[frontier]\nbootstrap = []\nprivate_neighbors = true\nmax_inbound_per_ip = 1000\n")
        cmd = [self.binary, "run", "--config", cfg, "--p2p-bind", "127.0.0.1:0",
               "--data-dir", os.path.join(self.tmpdir, "data"),
               "--shm", self.shm, "--stats-interval", "0"]
        log("starting: " + " ".join(cmd))
        self.stderr_fh = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr_fh)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc and self.proc.stdout
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stdout_log.append(line)
            vlog(f"relay stdout: {line}")
            self.lines.put(line)
        self.lines.put(None)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"relay printed no READY line within {timeout}s")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise TestFailure(f"relay exited with {self.proc.returncode} before READY")
                continue
            if line is None:
                raise TestFailure("relay closed stdout before READY "
                                  f"(exit {self.proc.poll()})")
            parts = line.split()
            if len(parts) == 3 and parts[0] == "READY":
                self.port, self.ready_pid = int(parts[1]), int(parts[2])
                log(f"relay READY on 127.0.0.1:{self.port} (pid {self.ready_pid})")
                return

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> Optional[int]:
        """SIGTERM the process we started; returns its exit status (None if it had to be
        killed). Only the process we started (and, if it leaked, the dataplane pid it
        reported) is signalled."""
        if self.proc is None:
            return None
        rc: Optional[int]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log(f"relay did not exit within {STOP_TIMEOUT}s of SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait(timeout=5)
                rc = None
        else:
            rc = self.proc.returncode
        self.stderr_fh.close()
        if self.ready_pid and self.ready_pid != self.proc.pid and _pid_alive(self.ready_pid):
            time.sleep(1.0)
            if _pid_alive(self.ready_pid):
                log(f"process {self.ready_pid} (from READY) still alive after the relay "
                    "exited; killing it")
                try:
                    os.kill(self.ready_pid, signal.SIGKILL)
                except OSError:
                    pass
                rc = None if rc == 0 else rc
        if os.path.exists(self.shm):
            try:
                os.unlink(self.shm)
            except OSError:
                pass
        return rc

    def stderr_tail(self, n: int = 40) -> str:
        try:
            with open(self.stderr_path, "rb") as fh:
                data = fh.read().decode("utf-8", "replace").splitlines()
            return "\n".join(data[-n:])
        except OSError:
            return "(no stderr)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


# -----------------------------------------------------------------------------------------
# Helpers over peers
# -----------------------------------------------------------------------------------------

def make_peer(name: str, relay: Relay) -> sp.StacksPeer:
    peer = sp.StacksPeer(name, log=vlog if VERBOSE else None)
    peer.connect("127.0.0.1", relay.port, timeout=5.0)
    return peer


def txs_received(peer: sp.StacksPeer, tx: Optional[bytes] = None) -> List[sp.Received]:
    return [r for r in peer.messages(sp.MSG_TRANSACTION)
            if tx is None or r.msg.payload.fields["tx"] == tx]


def wait_delivery(peers: List[sp.StacksPeer], tx: bytes, timeout: float) -> None:
    """Wait (bounded) until each peer holds >=1 Transaction carrying tx."""
    deadline = time.monotonic() + timeout
    for p in peers:
        p.wait_for(lambda r: r.msg.payload.msg_type == sp.MSG_TRANSACTION and
                   r.msg.payload.fields["tx"] == tx, max(0.0, deadline - time.monotonic()))


def check_no_errors(peers: List[sp.StacksPeer]) -> None:
    for p in peers:
        check(not p.errors, f"{p.name}: no protocol violations by the relay"
              + (f" (got: {p.errors})" if p.errors else ""))
        check(not p.closed.is_set(), f"{p.name}: connection still open"
              + (f" (closed: {p.close_reason})" if p.closed.is_set() else ""))


def check_forwarded(receiver: sp.StacksPeer, sent: sp.StacksMessage, tx: bytes,
                    relay_key: sp.Point, relay_key_hash: bytes,
                    expected_upstream: List[sp.RelayData], only_this_tx: bool) -> None:
    """The checks on one forwarded copy (brief + §3/§5.1/§5.4). With only_this_tx, other
    transactions received earlier are not counted."""
    got = txs_received(receiver, tx if only_this_tx else None)
    n = receiver.name
    check(len(got) == 1, f"{n}: exactly one Transaction{' carrying this tx' if only_this_tx else ''}"
          f" received (got {len(got)}: {[g.msg.describe() for g in got]})")
    rec = got[0]
    m = rec.msg
    sent_at = getattr(sent, "sent_at", None)
    if sent_at is not None:
        log(f"{n}: delivered {1000 * (rec.when - sent_at):.1f} ms after the push was written")
    check(m.payload.fields["tx"] == tx, f"{n}: transaction bytes identical to what was sent "
          f"({len(tx)} bytes, txid {sp.sha512_256(tx).hex()[:16]}..)")
    check(rec.sig_checked and m.verify(relay_key),
          f"{n}: preamble signature verifies against the relay's key "
          f"(sig {m.preamble.signature.hex()[:20]}.., digest {m.digest().hex()[:16]}..)")
    relay_entries = [r for r in m.relayers if r.peer.public_key_hash == relay_key_hash]
    check(len(relay_entries) == 1,
          f"{n}: exactly one relayer entry with hash160(relay key) = {relay_key_hash.hex()} "
          f"(relayers: {[(sp.peer_address_str(r.peer.addrbytes), r.peer.port, r.peer.public_key_hash.hex(), r.seq) for r in m.relayers]})")
    check(len(m.relayers) == len(expected_upstream) + 1 and
          m.relayers[-1].peer.public_key_hash == relay_key_hash,
          f"{n}: relayers = upstream ({len(expected_upstream)}) ++ [relay], "
          f"length {len(m.relayers)}")
    check([r.encode() for r in m.relayers[:-1]] == [r.encode() for r in expected_upstream],
          f"{n}: upstream relayer entries preserved byte for byte")
    check(m.preamble.seq != sent.preamble.seq,
          f"{n}: seq 0x{m.preamble.seq:08x} differs from sender's 0x{sent.preamble.seq:08x}")
    check(m.preamble.payload_len == len(m.raw) - sp.PREAMBLE_SIZE,
          f"{n}: payload_len exact ({m.preamble.payload_len})")


# -----------------------------------------------------------------------------------------
# Scenario
# -----------------------------------------------------------------------------------------

def run(relay: Relay) -> None:
    rows = load_mainnet_txs()
    transfers = [r for r in rows if r["network"] == "mainnet" and r["payload_name"] ==
                 "token-transfer"]
    check(len(transfers) >= 3, f"found {len(transfers)} real mainnet token transfers")
    tx1, tx2, tx3 = (transfers[i]["raw"] for i in range(3))
    log(f"tx1 = {transfers[0]['txid']} ({len(tx1)} bytes, token-transfer, mainnet)")
    log(f"tx2 = {transfers[1]['txid']} ({len(tx2)} bytes, token-transfer, mainnet)")

    relay.start()
    relay.wait_ready(READY_TIMEOUT)

    # --- handshakes ---------------------------------------------------------------------
    peers = {}
    for name in ("A", "B", "C"):
        p = make_peer(name, relay)
        peers[name] = p
        try:
            acc = p.handshake(timeout=5.0)
        except sp.ProtocolError as exc:
            raise TestFailure(f"{name}: handshake failed: {exc}; errors={p.errors}") from exc
        check(True, f"{name}: handshake accepted, Accept signature verified against its key "
              f"({acc.describe()})")
    a, b, c = peers["A"], peers["B"], peers["C"]
    relay_key_bytes = a.remote_key_bytes
    check(b.remote_key_bytes == relay_key_bytes == c.remote_key_bytes,
          f"all three Accepts carry the same relay key {relay_key_bytes.hex()}")
    relay_key = a.remote_key
    relay_hash = sp.hash160(relay_key_bytes)
    acc_hs = a.remote_accept.handshake
    log(f"relay Accept: addr {sp.peer_address_str(acc_hs.addrbytes)}:{acc_hs.port} "
        f"services 0x{acc_hs.services:04x} expire 0x{acc_hs.expire_block_height:x} "
        f"data_url {acc_hs.data_url!r} heartbeat {a.remote_accept.heartbeat_interval}")
    ap = a.remote_accept_msg.preamble
    log(f"relay Accept preamble burn view: {ap.burn_block_height} "
        f"{ap.burn_block_hash.hex()[:16]}.. / {ap.burn_stable_block_height} "
        f"{ap.burn_stable_block_hash.hex()[:16]}.. additional_data {ap.additional_data}")
    check_no_errors([a, b, c])

    # --- A pushes tx1 (empty relayers) -------------------------------------------------
    m1 = a.push_transaction(tx1)
    m1.sent_at = time.monotonic()  # type: ignore[attr-defined]
    log(f"A pushed {m1.describe()}")
    wait_delivery([b, c], tx1, DELIVERY_TIMEOUT)
    time.sleep(GRACE)
    for r in (b, c):
        check_forwarded(r, m1, tx1, relay_key, relay_hash, [], only_this_tx=False)
    same = txs_received(b)[0].msg.raw == txs_received(c)[0].msg.raw
    log(f"B and C got {'identical' if same else 'different'} signed bytes "
        f"({'sign-once fan-out, allowed by §0.3' if same else 'per-recipient signing'})")
    check(not txs_received(a), f"A received no Transaction (no echo); got "
          f"{[x.msg.describe() for x in txs_received(a)]}")
    check_no_errors([a, b, c])

    # --- D: corrupted signature ----------------------------------------------------------
    d = make_peer("D", relay)
    try:
        d.handshake(timeout=5.0)
    except sp.ProtocolError as exc:
        raise TestFailure(f"D: handshake failed: {exc}") from exc
    check(True, "D: handshake accepted")
    md = d.push_transaction(tx2, corrupt_signature=True)
    log(f"D pushed {md.describe()} with a corrupted signature "
        f"(sig {md.preamble.signature.hex()[:24]}..)")
    d.closed.wait(timeout=DELIVERY_TIMEOUT)
    check(d.closed.is_set() and not d.errors,
          f"D disconnected by the relay after the bad signature ({d.close_reason}; "
          f"D saw: {[x.msg.describe() for x in d.received]})")
    time.sleep(GRACE)
    for r in (a, b, c):
        check(not txs_received(r, tx2),
              f"{r.name}: the corrupted-signature message was not forwarded")
    check_no_errors([a, b, c])

    # --- A pushes tx2 stock-style (relayers = [A]) ---------------------------------------
    upstream = [a.own_relay_entry()]
    m2 = a.push_transaction(tx2, relayers=upstream)
    m2.sent_at = time.monotonic()  # type: ignore[attr-defined]
    log(f"A pushed {m2.describe()} with relayers=[A]")
    wait_delivery([b, c], tx2, DELIVERY_TIMEOUT)
    if not txs_received(b, tx2) or not txs_received(c, tx2):
        # Tell "relaying broken" apart from "the unverified push poisoned the dedup cache".
        m3 = a.push_transaction(tx3, relayers=upstream)
        wait_delivery([b, c], tx3, DELIVERY_TIMEOUT)
        if txs_received(b, tx3) and txs_received(c, tx3):
            raise TestFailure("tx2 was NOT relayed after D's corrupted-signature push of the "
                              "same tx, but a fresh tx3 was: the relay marked tx2 as seen "
                              "from a message whose signature did not verify")
        raise TestFailure(f"A->B/C relaying no longer works after D was dropped "
                          f"(B: {[x.msg.describe() for x in b.received[-5:]]}, "
                          f"C: {[x.msg.describe() for x in c.received[-5:]]}, pushed "
                          f"{m3.describe()})")
    time.sleep(GRACE)
    for r in (b, c):
        check_forwarded(r, m2, tx2, relay_key, relay_hash, upstream, only_this_tx=True)
    check(not txs_received(a), "A received no Transaction (no echo, A is in relayers)")

    # --- liveness ------------------------------------------------------------------------
    for p in (a, b, c):
        check(p.ping(timeout=5.0), f"{p.name}: Ping answered with Pong (same nonce and seq)")
    check_no_errors([a, b, c])
    others = {}
    for p in (a, b, c):
        for x in p.received:
            if not x.solicited and x.msg.payload.msg_type != sp.MSG_TRANSACTION:
                others.setdefault(x.msg.payload.name, 0)
                others[x.msg.payload.name] += 1
    log(f"other unsolicited messages from the relay (answered per spec): {others or 'none'}")

    for p in (a, b, c, d):
        p.close()


def main() -> int:
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--relay-bin", required=True, help="path to the stacks-relay binary")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every message")
    args = ap.parse_args()
    VERBOSE = args.verbose

    binary = os.path.abspath(args.relay_bin)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"SKIP: relay binary {binary} is missing", flush=True)
        return 77
    for sib in ("stacks-relay-dataplane", "stacks-relay-control"):
        if not os.path.isfile(os.path.join(os.path.dirname(binary), sib)):
            print(f"SKIP: {sib} is missing next to {binary}", flush=True)
            return 77

    if not sp.selftest(verbose=False):
        print("FAIL: stacks_peer self-test against VECTORS.md failed", flush=True)
        return 1
    log("stacks_peer self-test against VECTORS.md passed")

    tmpdir = tempfile.mkdtemp(prefix="stacks-relay-interop-")
    os.chmod(tmpdir, 0o711)  # the relay drops root to an unprivileged user: its data dir must be reachable
    relay = Relay(binary, tmpdir)

    def watchdog() -> None:  # never hang, whatever happens
        print(f"FAIL: overall timeout {OVERALL_TIMEOUT}s", flush=True)
        if relay.proc is not None and relay.proc.poll() is None:
            relay.proc.kill()
        os._exit(1)

    timer = threading.Timer(OVERALL_TIMEOUT, watchdog)
    timer.daemon = True
    timer.start()

    failure: Optional[str] = None
    try:
        run(relay)
    except TestFailure as exc:
        failure = str(exc)
    except Exception as exc:  # a bug in the test or an unexpected socket error
        failure = f"unexpected error: {exc!r}"
    was_alive = relay.alive()
    rc = relay.stop()
    timer.cancel()
    if failure is None:
        if not was_alive:
            failure = "relay exited on its own during the test"
        elif rc != 0:
            failure = f"relay exit status after SIGTERM was {rc}, expected 0"
        else:
            log("ok: relay exited with status 0 after SIGTERM")
    if failure is not None:
        print(f"FAIL: {failure}", flush=True)
        print("---- relay stderr (tail) ----\n" + relay.stderr_tail(), flush=True)
        print(f"(relay data dir and stderr kept in {tmpdir})", flush=True)
        return 1
    shutil.rmtree(tmpdir, ignore_errors=True)
    print("PASS: relay interoperates with the independent stock-node peers", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
