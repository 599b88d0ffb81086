#!/usr/bin/env node
// Runs our decoder on every transaction produced by gen-txs.mjs and compares
// its JSON with the values @stacks/transactions computed.
//
// usage: node check.mjs [txs.jsonl]          (reads stdin without a file)
// env:   STACKS_RELAY  decoder binary (default: <repo>/build/dev/stacks-relay)
//
// For each tx:  stacks-relay decode tx <hex>  must exit 0 and print one JSON
// object whose fields match (see README.md). For single-sig standard txs a
// copy with one byte of the origin signature flipped must still decode (exit
// 0) and report origin_signature_valid === false.
//
// Exit status: 0 all matched, 1 mismatches, 2 setup problem (no decoder, bad
// input).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { txidFromData } from '@stacks/transactions';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const relay = process.env.STACKS_RELAY
  ? path.resolve(process.env.STACKS_RELAY)
  : path.join(repoRoot, 'build', 'dev', 'stacks-relay');

// Linux refuses a single argv string of 128 KiB or more (MAX_ARG_STRLEN).
const MAX_HEX_ARG = 128 * 1024 - 1;

// Single-sig standard auth: version(1) chain_id(4) auth_type(1) hash_mode(1)
// signer(20) nonce(8) fee(8) key_encoding(1), then the 65-byte signature.
const SIG_OFFSET = 1 + 4 + 1 + 1 + 20 + 8 + 8 + 1;
const SINGLE_SIG_HASH_MODES = new Set([0, 2]); // P2PKH, P2WPKH

function setupError(message) {
  console.error(`check: ${message}`);
  process.exit(2);
}

function readTxs() {
  const file = process.argv[2];
  const text = file ? fs.readFileSync(file, 'utf8') : fs.readFileSync(0, 'utf8');
  const txs = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      txs.push(JSON.parse(line));
    } catch (err) {
      setupError(`input line ${i + 1} is not JSON: ${err.message}`);
    }
  });
  if (txs.length === 0) setupError('no transactions in the input');
  return txs;
}

// Runs `stacks-relay decode tx <hex>`; returns { json } or { problem }.
function decode(hex) {
  if (hex.length > MAX_HEX_ARG) return { problem: `hex is ${hex.length} chars, too long for one argv string` };
  const r = spawnSync(relay, ['decode', 'tx', hex], { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 << 20 });
  const stderr = r.stderr ? ` stderr: ${r.stderr.trim().slice(0, 500)}` : '';
  if (r.error) return { problem: `could not run decoder: ${r.error.message}` };
  if (r.signal) return { problem: `decoder killed by ${r.signal}.${stderr}` };
  if (r.status !== 0) return { problem: `decoder exit status ${r.status}.${stderr}` };
  let json;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return { problem: `decoder output is not one JSON object: ${JSON.stringify(r.stdout.slice(0, 300))}` };
  }
  return { json };
}

function get(obj, dotted) {
  return dotted.split('.').reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
}

const normHex = v => (typeof v === 'string' ? v.toLowerCase().replace(/^0x/, '') : v);
const show = v => (v === undefined ? '(missing)' : JSON.stringify(v));

// Compare rules: hex strings ignore case and a 0x prefix; numbers may also be
// printed as decimal strings; everything else must be strictly equal.
function same(kind, ours, expected) {
  switch (kind) {
    case 'hex': return normHex(ours) === normHex(expected);
    case 'num': return (typeof ours === 'number' || typeof ours === 'string') && String(ours) === String(expected);
    default: return ours === expected;
  }
}

// [field path in our JSON, kind, expected value]
function expectations(t, { originValid }) {
  const list = [
    ['txid', 'hex', t.txid],
    ['network', 'str', t.network],
    ['auth.type', 'str', t.sponsored ? 'sponsored' : 'standard'],
    ['auth.origin.hash_mode', 'num', t.origin_hash_mode],
    ['auth.origin.signer', 'hex', t.origin_signer],
    ['auth.origin.nonce', 'num', t.origin_nonce],
    ['auth.origin.fee', 'num', t.origin_fee],
    ['payload.type', 'num', t.payload_type],
    ['post_conditions.length', 'num', t.post_condition_count],
    ['post_condition_mode', 'num', t.post_condition_mode],
    ['origin_signature_valid', 'bool', originValid],
  ];
  if (t.sponsored) {
    if (t.sponsor_hash_mode !== undefined) list.push(['auth.sponsor.hash_mode', 'num', t.sponsor_hash_mode]);
    list.push(
      ['auth.sponsor.signer', 'hex', t.sponsor_signer],
      ['auth.sponsor.nonce', 'num', t.sponsor_nonce],
      ['auth.sponsor.fee', 'num', t.sponsor_fee],
    );
    // only meaningful when the origin signature is intact
    if (originValid) list.push(['sponsor_signature_valid', 'bool', true]);
  }
  return list;
}

function compare(t, ours, opts) {
  const diffs = [];
  for (const [field, kind, expected] of expectations(t, opts)) {
    const value = get(ours, field);
    if (!same(kind, value, expected)) diffs.push(`${field}: ours=${show(value)} expected=${show(expected)}`);
  }
  if (!Array.isArray(get(ours, 'post_conditions'))) diffs.push(`post_conditions: not an array (${show(get(ours, 'post_conditions'))})`);
  if (!t.sponsored && get(ours, 'auth.sponsor') != null) diffs.push(`auth.sponsor: present on a standard tx`);
  return diffs;
}

// A copy of a single-sig standard tx with one byte of the signature's r||s
// flipped; returns null for other auth layouts.
function corruptOriginSignature(t) {
  if (t.sponsored || !SINGLE_SIG_HASH_MODES.has(t.origin_hash_mode)) return null;
  const bytes = Buffer.from(t.hex, 'hex');
  if (bytes[5] !== 0x04 || bytes[6] !== t.origin_hash_mode || bytes[SIG_OFFSET - 1] > 1) {
    throw new Error('single-sig layout not where expected');
  }
  const at = SIG_OFFSET + 1 + (parseInt(t.txid.slice(0, 8), 16) % 64); // skip the recovery id byte
  bytes[at] ^= 0xff;
  return { hex: bytes.toString('hex'), txid: txidFromData(bytes), at };
}

// ---------------------------------------------------------------------------

if (!fs.existsSync(relay)) setupError(`decoder not found at ${relay} (build it or set STACKS_RELAY)`);
const txs = readTxs();

let mismatches = 0;
let corruptedChecked = 0;
const coverage = { hash_mode: {}, payload_type: {}, sponsored: 0 };

for (const t of txs) {
  const problems = [];

  const r = decode(t.hex);
  if (r.problem) problems.push(r.problem);
  else problems.push(...compare(t, r.json, { originValid: true }));

  let bad = null;
  try {
    bad = corruptOriginSignature(t);
  } catch (err) {
    problems.push(`cannot corrupt the signature: ${err.message}`);
  }
  if (bad) {
    corruptedChecked++;
    const c = decode(bad.hex);
    const where = `[origin signature byte ${bad.at} flipped]`;
    if (c.problem) problems.push(`${where} ${c.problem}`);
    else problems.push(...compare({ ...t, txid: bad.txid }, c.json, { originValid: false }).map(d => `${where} ${d}`));
  }

  coverage.hash_mode[t.origin_hash_mode] = (coverage.hash_mode[t.origin_hash_mode] ?? 0) + 1;
  coverage.payload_type[t.payload_type] = (coverage.payload_type[t.payload_type] ?? 0) + 1;
  if (t.sponsored) coverage.sponsored++;

  if (problems.length) {
    mismatches++;
    console.log(`MISMATCH ${t.name}`);
    console.log(`  txid ${t.txid}`);
    console.log(`  hex  ${t.hex.length > 160 ? t.hex.slice(0, 160) + `... (${t.hex.length / 2} bytes)` : t.hex}`);
    for (const p of problems) console.log(`  ${p}`);
  }
}

const fmt = m => Object.entries(m).map(([k, v]) => `${k}:${v}`).join(' ');
console.log(
  `crosscheck: coverage origin hash modes {${fmt(coverage.hash_mode)}}, payload types {${fmt(coverage.payload_type)}}, ` +
    `${coverage.sponsored} sponsored, ${corruptedChecked} corrupted-signature copies`,
);
console.log(`crosscheck: ${txs.length} txs, ${mismatches} mismatches`);
console.log(`crosscheck: ${txs.length - mismatches} passed, ${mismatches} failed`);
process.exit(mismatches ? 1 : 0);
