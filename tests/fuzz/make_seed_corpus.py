#!/usr/bin/env python3
"""Write the seed corpus of every fuzz target from the committed vectors and real data.
Run from the repository root: tests/fuzz/make_seed_corpus.py (output is committed)."""
import csv, hashlib, json, os, struct

root = "tests/fuzz/corpus"
data = "tests/data"
named = dict(l.rstrip("\n").split("\t") for l in open(f"{data}/vectors/named.tsv"))
H = lambda b: hashlib.new("sha512_256", b).digest()

def put(target, name, blob):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)

def tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))

# messages: the signed/unsigned vectors, and every B24 payload in a message
for k in ("B26", "M1", "M2", "M3"):
    put("message", k, bytes.fromhex(named[k]))
pre = bytearray(bytes.fromhex(named["B1"]))
for line in open(f"{data}/vectors/b24-payloads.tsv"):
    id_, _, payload = line.rstrip("\n").split("\t")
    body = b"\0\0\0\0" + bytes.fromhex(payload)
    p = bytearray(pre)
    p[161:165] = struct.pack(">I", len(body))
    put("message", f"b24-{id_}", bytes(p) + body)

# transactions
for k in ("H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8"):
    put("tx", k, bytes.fromhex(named[k]))
for f in ("mainnet-txs.tsv", "regtest-epoch3-txs.tsv"):
    for r in tsv(f"{data}/real-data/{f}"):
        put("tx", r["txid"][:16], bytes.fromhex(r["raw_tx_hex"]))
for i, line in enumerate(open(f"{data}/stacksjs/generated-seed-5eed0001.jsonl")):
    if i % 5 == 0:
        t = json.loads(line)
        put("tx", "stacksjs-" + t["txid"][:16], bytes.fromhex(t["hex"]))

# Nakamoto blocks
for r in tsv(f"{data}/real-data/mainnet-nakamoto-block.tsv") + tsv(f"{data}/real-data/regtest-nakamoto-blocks.tsv")[:6]:
    put("nakamoto_block", r["block_id"][:16], bytes.fromhex(r["block_hex"]))

# 2.x blocks (selector byte 0) and a microblock (selector byte 1)
put("stacks_block", "H9", b"\0" + bytes.fromhex(named["H9"]))
tx = bytes.fromhex(named["H4"])
leaf = H(b"\0" + H(tx))
root_ = H(b"\1" + leaf + leaf)
sig = b"\0" + b"\x11" * 64
mb = b"\0" + struct.pack(">H", 0) + b"\0" * 32 + root_ + sig + struct.pack(">I", 1) + tx
put("stacks_block", "microblock", b"\1" + mb)

# Clarity values
for line in open(f"{data}/vectors/j-clarity.tsv"):
    hx, desc = line.rstrip("\n").split("\t")
    put("clarity", "j-" + hx[:24], bytes.fromhex(hx))
print("corpus written")
