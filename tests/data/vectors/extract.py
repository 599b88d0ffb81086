#!/usr/bin/env python3
"""Turn VECTORS.md (copied verbatim from shared/vectors) into flat TSV files the C++
tests read: named.tsv (every section's hex block), and one TSV per table section.
Run from this folder: ./extract.py  (output is committed; CI does not need Python)."""
import re

md = open("VECTORS.md", encoding="utf-8").read()

named = []
for m in re.finditer(r"^### ([A-Z]\d+)\. .*?\n(.*?)(?=^### |^## )", md, re.S | re.M):
    sec, body = m.group(1), m.group(2)
    blk = re.search(r"```\n([0-9a-f\s]+?)\n```", body)
    if blk:
        named.append((sec, blk.group(1).replace("\n", "").strip()))

def table_rows(section_heading):
    start = md.index(section_heading)
    rows = []
    for line in md[start:].splitlines()[1:]:
        if line.startswith("## ") or line.startswith("### "):
            break
        if line.startswith("|") and not line.startswith("|---") and not line.startswith("| ---"):
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            rows.append(cells)
    return rows[1:]  # drop header

with open("named.tsv", "w") as f:
    for sec, hx in named:
        f.write(f"{sec}\t{hx}\n")

with open("b24-payloads.tsv", "w") as f:
    for r in table_rows("### B24."):
        f.write(f"{r[0]}\t{r[1]}\t{r[2]}\n")

with open("i-secp256k1.tsv", "w") as f:
    for r in table_rows("## I. "):
        f.write("\t".join(r[:5]) + "\n")

with open("j-clarity.tsv", "w") as f:
    for r in table_rows("## J. "):
        f.write(f"{r[0]}\t{r[1]}\n")

with open("k-vrf.tsv", "w") as f:
    for r in table_rows("## K. "):
        f.write(f"{r[0]}\t{r[1]}\t{r[2]}\n")

print(f"{len(named)} named vectors")
