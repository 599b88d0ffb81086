#!/usr/bin/env node
// Generates random, fully signed Stacks transactions with @stacks/transactions
// and prints one JSON object per line (see README.md for the fields).
//
// usage: node gen-txs.mjs [N=200] [--seed TEXT] [--no-sip040] [--no-sip044]
//                         [--max-clarity V]
//
//   --seed TEXT     deterministic output (same TEXT -> same bytes); without it a
//                   fresh random seed is drawn and printed to stderr, so a
//                   failing run can be replayed with --seed.
//   --no-sip040     no 'originator' post-condition mode, no NFT 'maybe-sent'
//                   (SIP-040, epoch 3.4).
//   --no-sip044     no staking / PoX post conditions (SIP-044, epoch 4.0).
//   --max-clarity V highest clarity_version for versioned contracts (default:
//                   the highest the library knows).
//
// Every value in the output (hex, txid, signers, ...) comes from the library;
// each transaction is also checked with the library's own verifyOrigin(), a
// deserialize/serialize round trip, and a sponsor-signature check built from
// the library's verification primitives. Any failure aborts with exit code 1.

import { createHash, randomBytes } from 'node:crypto';
import {
  AddressHashMode,
  AddressVersion,
  AuthType,
  ClarityVersion,
  Cl,
  Pc,
  PostConditionMode,
  PubKeyEncoding,
  TransactionSigner,
  addressFromPublicKeys,
  addressToString,
  createLPList,
  createMultiSigSpendingCondition,
  createSingleSigSpendingCondition,
  createStacksPublicKey,
  createTransactionAuthField,
  deserializeTransaction,
  isNonSequentialMultiSig,
  isSingleSig,
  makeUnsignedContractCall,
  makeUnsignedContractDeploy,
  makeUnsignedSTXTokenTransfer,
  nextVerification,
  postConditionToWire,
  privateKeyToPublic,
  sponsorTransaction,
  StacksWireType,
} from '@stacks/transactions';

// ---------------------------------------------------------------------------
// command line

const maxLibraryClarity = Math.max(...Object.values(ClarityVersion).filter(v => typeof v === 'number'));

function parseArgs(argv) {
  const opts = { count: 200, seed: null, sip040: true, sip044: true, maxClarity: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seed') opts.seed = argv[++i];
    else if (a.startsWith('--seed=')) opts.seed = a.slice(7);
    else if (a === '--no-sip040') opts.sip040 = false;
    else if (a === '--no-sip044') opts.sip044 = false;
    else if (a === '--max-clarity') opts.maxClarity = Number(argv[++i]);
    else if (a.startsWith('--max-clarity=')) opts.maxClarity = Number(a.slice(14));
    else if (/^\d+$/.test(a)) opts.count = Number(a);
    else {
      console.error(`gen-txs: unknown argument '${a}'`);
      process.exit(64);
    }
  }
  if (opts.seed === undefined) {
    console.error('gen-txs: --seed needs a value');
    process.exit(64);
  }
  const mc = opts.maxClarity;
  if (mc !== null && !(Number.isInteger(mc) && mc >= 1 && mc <= maxLibraryClarity)) {
    console.error(`gen-txs: --max-clarity must be 1..${maxLibraryClarity}`);
    process.exit(64);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------
// deterministic random source: SHA-256 in counter mode over the seed

class Rng {
  constructor(seed) {
    this.key = createHash('sha256').update(seed).digest();
    this.counter = 0n;
    this.pool = Buffer.alloc(0);
  }

  bytes(n) {
    while (this.pool.length < n) {
      const ctr = Buffer.alloc(8);
      ctr.writeBigUInt64BE(this.counter++);
      const block = createHash('sha256').update(this.key).update(ctr).digest();
      this.pool = Buffer.concat([this.pool, block]);
    }
    const out = this.pool.subarray(0, n);
    this.pool = this.pool.subarray(n);
    return new Uint8Array(out);
  }

  // uniform BigInt in [0, 2^bits)
  bits(bits) {
    if (bits === 0) return 0n;
    const raw = this.bytes(Math.ceil(bits / 8));
    let v = 0n;
    for (const b of raw) v = (v << 8n) | BigInt(b);
    return v & ((1n << BigInt(bits)) - 1n);
  }

  // uniform integer in [lo, hi] (Numbers, hi - lo < 2^48)
  int(lo, hi) {
    const span = BigInt(hi - lo + 1);
    const limit = (1n << 48n) - ((1n << 48n) % span);
    for (;;) {
      const v = this.bits(48);
      if (v < limit) return lo + Number(v % span);
    }
  }

  chance(p) {
    return this.int(0, 999_999) < p * 1_000_000;
  }

  pick(arr) {
    return arr[this.int(0, arr.length - 1)];
  }

  shuffle(arr) {
    const a = arr.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

const seed = opts.seed ?? randomBytes(16).toString('hex');
if (opts.seed === null) console.error(`gen-txs: seed ${seed} (replay with --seed ${seed})`);
const rng = new Rng(seed);

// ---------------------------------------------------------------------------
// feature switches

const maxClarity = opts.maxClarity ?? maxLibraryClarity;
const postConditionModes = ['allow', 'deny', ...(opts.sip040 ? ['originator'] : [])];
const nftConditions = ['sent', 'not-sent', ...(opts.sip040 ? ['maybe-sent'] : [])];
const fungibleConditions = ['eq', 'gt', 'gte', 'lt', 'lte'];

// ---------------------------------------------------------------------------
// keys, addresses, names

const SECP256K1_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const U64_MAX = (1n << 64n) - 1n;
const toHex = bytes => Buffer.from(bytes).toString('hex');

// A private key in the library's convention: 32 bytes hex = uncompressed
// public key, 33 bytes hex ending in 01 = compressed public key.
function newKey(compressed) {
  for (;;) {
    const k = rng.bits(256);
    if (k === 0n || k >= SECP256K1_ORDER) continue;
    const priv = k.toString(16).padStart(64, '0') + (compressed ? '01' : '');
    return { priv, pub: privateKeyToPublic(priv), compressed };
  }
}

const NETWORKS = {
  mainnet: { single: AddressVersion.MainnetSingleSig, multi: AddressVersion.MainnetMultiSig },
  testnet: { single: AddressVersion.TestnetSingleSig, multi: AddressVersion.TestnetMultiSig },
};

function randomAddress(network, { anyNetwork = false } = {}) {
  const net = anyNetwork ? NETWORKS[rng.pick(['mainnet', 'testnet'])] : NETWORKS[network];
  const version = rng.chance(0.8) ? net.single : net.multi;
  return addressToString({ type: StacksWireType.Address, version, hash160: toHex(rng.bytes(20)) });
}

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const ALNUM = LOWER + LOWER.toUpperCase() + '0123456789';

function randomString(alphabet, minLen, maxLen) {
  let s = '';
  const len = rng.int(minLen, maxLen);
  for (let i = 0; i < len; i++) s += alphabet[rng.int(0, alphabet.length - 1)];
  return s;
}

// ContractName: ^[a-zA-Z]([a-zA-Z0-9]|[-_])*$, at most 40 bytes
function contractName() {
  return randomString(LOWER + LOWER.toUpperCase(), 1, 1) + randomString(ALNUM + '-_', 0, 39);
}

// ClarityName (function, asset names); sometimes with the ?/! suffixes
function clarityName() {
  const base = randomString(LOWER, 1, 1) + randomString(LOWER + '0123456789-', 0, 30);
  return base + (rng.chance(0.15) ? rng.pick(['?', '!']) : '');
}

// Tuple keys are restricted to [a-z][a-z0-9-]*: for these, the library's
// localeCompare-based key order equals the canonical byte order (see README).
function tupleKey() {
  return randomString(LOWER, 1, 1) + randomString(LOWER + '0123456789-', 0, 10);
}

function randomAmount64() {
  return rng.pick([0n, 1n, U64_MAX, rng.bits(rng.int(1, 64))]);
}

// nonces and fees stay below 2^53 so JSON numbers are exact everywhere
function randomNonceOrFee() {
  switch (rng.int(0, 3)) {
    case 0: return rng.int(0, 10);
    case 1: return rng.int(0, 1_000_000);
    case 2: return rng.int(0, 2 ** 32);
    default: return Number(rng.bits(53)); // < 2^53
  }
}

// ---------------------------------------------------------------------------
// Clarity values: draw a type first, then a value of that type, so lists are
// homogeneous (as a Stacks node requires).

const LEAF_TYPES = ['int', 'uint', 'bool', 'buff', 'ascii', 'utf8', 'principal'];
const COMPOSITE_TYPES = ['optional', 'response', 'list', 'tuple'];

function randomClarityType(depth) {
  if (depth <= 0 || rng.chance(0.45)) return { kind: rng.pick(LEAF_TYPES) };
  const kind = rng.pick(COMPOSITE_TYPES);
  switch (kind) {
    case 'optional':
      return { kind, inner: randomClarityType(depth - 1) };
    case 'response':
      return { kind, ok: randomClarityType(depth - 1), err: randomClarityType(depth - 1) };
    case 'list':
      return { kind, inner: randomClarityType(depth - 1) };
    case 'tuple': {
      const keys = new Set();
      const want = rng.int(1, 6);
      while (keys.size < want) {
        // occasionally derive keys from each other ("ab", "ab-c", "ab0") to
        // exercise ordering of keys that share a prefix
        const prev = [...keys];
        keys.add(prev.length && rng.chance(0.3) ? rng.pick(prev) + randomString(LOWER + '0-', 1, 2) : tupleKey());
      }
      const fields = rng.shuffle([...keys]).map(k => [k, randomClarityType(depth - 1)]);
      return { kind, fields };
    }
  }
}

const I128_MIN = -(1n << 127n);
const I128_MAX = (1n << 127n) - 1n;
const U128_MAX = (1n << 128n) - 1n;

const UTF8_SAMPLES = ['é', 'ß', 'ñ', 'Ω', 'Ж', 'ש', 'ع', '中', '文', '日本', '한', '€', '✓', '🚀', '🦊', '😀', 'e\u0301', '\u00a0', ' ', 'a', 'Z', '0', '-'];
const ASCII_PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('') + '\n\t';

function randomValue(type) {
  switch (type.kind) {
    case 'int': {
      const v = rng.pick([0n, 1n, -1n, I128_MIN, I128_MAX, rng.bits(rng.int(1, 127))]);
      return Cl.int(rng.chance(0.5) && v !== I128_MIN ? -v : v);
    }
    case 'uint':
      return Cl.uint(rng.pick([0n, 1n, U128_MAX, rng.bits(rng.int(1, 128))]));
    case 'bool':
      return Cl.bool(rng.chance(0.5));
    case 'buff':
      return Cl.buffer(rng.bytes(rng.chance(0.9) ? rng.int(0, 40) : rng.int(41, 1024)));
    case 'ascii':
      return Cl.stringAscii(randomString(ASCII_PRINTABLE, 0, rng.chance(0.9) ? 30 : 300));
    case 'utf8': {
      let s = '';
      const n = rng.int(0, 12);
      for (let i = 0; i < n; i++) s += rng.pick(UTF8_SAMPLES);
      return Cl.stringUtf8(s);
    }
    case 'principal': {
      const address = randomAddress(null, { anyNetwork: true });
      return rng.chance(0.5)
        ? Cl.standardPrincipal(address)
        : Cl.contractPrincipal(address, contractName());
    }
    case 'optional':
      return rng.chance(0.3) ? Cl.none() : Cl.some(randomValue(type.inner));
    case 'response':
      return rng.chance(0.5) ? Cl.ok(randomValue(type.ok)) : Cl.error(randomValue(type.err));
    case 'list': {
      const n = rng.int(0, 4);
      return Cl.list(Array.from({ length: n }, () => randomValue(type.inner)));
    }
    case 'tuple': {
      // insertion order is random; the library must sort the keys itself
      const obj = {};
      for (const [k, t] of type.fields) obj[k] = randomValue(t);
      assertCanonicalKeyOrder(Object.keys(obj));
      return Cl.tuple(obj);
    }
  }
  throw new Error(`unknown clarity type ${type.kind}`);
}

function assertCanonicalKeyOrder(keys) {
  const library = keys.slice().sort((a, b) => a.localeCompare(b)); // what the library does
  const canonical = keys.slice().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (library.join('\0') !== canonical.join('\0')) {
    fail(`tuple keys ${JSON.stringify(keys)} would not be encoded in canonical order`);
  }
}

// Redraws the rare huge argument lists so the tx hex stays well inside one
// command-line argument.
const MAX_ARGS_BYTES = 16_000;

function randomArgs() {
  for (;;) {
    const n = rng.chance(0.1) ? 0 : rng.int(1, 6);
    const args = Array.from({ length: n }, () => randomValue(randomClarityType(4)));
    const bytes = args.reduce((sum, a) => sum + Cl.serialize(a).length / 2, 0);
    if (bytes <= MAX_ARGS_BYTES) return args;
  }
}

// ---------------------------------------------------------------------------
// post conditions (built with the library's Pc helpers)

function pcPrincipal(network) {
  const r = rng.int(0, 2);
  if (r === 0) return { label: 'origin', pc: Pc.origin() };
  const address = randomAddress(network);
  if (r === 1) return { label: 'standard', pc: Pc.principal(address) };
  return { label: 'contract', pc: Pc.principal(`${address}.${contractName()}`) };
}

function fungibleCode(partial, code, amount) {
  switch (code) {
    case 'eq': return partial.willSendEq(amount);
    case 'gt': return partial.willSendGt(amount);
    case 'gte': return partial.willSendGte(amount);
    case 'lt': return partial.willSendLt(amount);
    case 'lte': return partial.willSendLte(amount);
  }
}

function randomPostCondition(network) {
  const kinds = ['stx', 'ft', 'nft', ...(opts.sip044 ? ['staking', 'pox'] : [])];
  const kind = rng.pick(kinds);
  const { label, pc } = pcPrincipal(network);
  const assetContract = `${randomAddress(network)}.${contractName()}`;
  switch (kind) {
    case 'stx': {
      const code = rng.pick(fungibleConditions);
      return { label: `stx-${code}-${label}`, pc: fungibleCode(pc, code, randomAmount64()).ustx() };
    }
    case 'ft': {
      const code = rng.pick(fungibleConditions);
      const cond = fungibleCode(pc, code, randomAmount64()).ft(assetContract, clarityName());
      return { label: `ft-${code}-${label}`, pc: cond };
    }
    case 'nft': {
      const code = rng.pick(nftConditions);
      const partial =
        code === 'sent' ? pc.willSendAsset() : code === 'not-sent' ? pc.willNotSendAsset() : pc.willMaybeSendAsset();
      const assetId = randomValue(randomClarityType(2));
      return { label: `nft-${code}-${label}`, pc: partial.nft(assetContract, clarityName(), assetId) };
    }
    case 'staking': {
      const code = rng.pick(fungibleConditions);
      return { label: `staking-${code}-${label}`, pc: fungibleCode(pc, code, randomAmount64()).ustxToLock() };
    }
    case 'pox': {
      const code = rng.int(0, 2);
      const cond = code === 0 ? pc.willNotPerformPox() : code === 1 ? pc.mayPerformPox() : pc.willPerformPox();
      return { label: `pox-${cond.condition}-${label}`, pc: cond };
    }
  }
}

// ---------------------------------------------------------------------------
// spending conditions

const AUTH_KINDS = [
  { name: 'p2pkh', hashMode: AddressHashMode.P2PKH, compressed: true },
  { name: 'p2pkh-uncompressed', hashMode: AddressHashMode.P2PKH, compressed: false },
  { name: 'p2wpkh', hashMode: AddressHashMode.P2WPKH, compressed: true },
  { name: 'p2sh', hashMode: AddressHashMode.P2SH, multisig: true, uncompressedOk: true },
  { name: 'p2sh-nonseq', hashMode: AddressHashMode.P2SHNonSequential, multisig: true, uncompressedOk: true },
  { name: 'p2wsh', hashMode: AddressHashMode.P2WSH, multisig: true },
  { name: 'p2wsh-nonseq', hashMode: AddressHashMode.P2WSHNonSequential, multisig: true },
];

// A signer: keys, required signatures, and which keys actually sign.
function newSigner(kind) {
  if (!kind.multisig) {
    return { kind, label: kind.name, hashMode: kind.hashMode, keys: [newKey(kind.compressed)] };
  }
  const n = rng.pick([1, 2, 3, 3, 3, 4, 5]);
  const m = rng.int(1, n);
  const keys = Array.from({ length: n }, () => newKey(!(kind.uncompressedOk && rng.chance(0.25))));
  // order-independent modes accept more signatures than required
  const sigs = isNonSequentialMultiSig(kind.hashMode) && rng.chance(0.3) ? rng.int(m, n) : m;
  const signing = new Set(rng.shuffle([...keys.keys()]).slice(0, sigs));
  const extra = (keys.some(k => !k.compressed) ? '-mixedkeys' : '') + (sigs > m ? `-${sigs}sigs` : '');
  return { kind, label: `${kind.name}-${m}of${n}${extra}`, hashMode: kind.hashMode, keys, m, signing };
}

function spendingCondition(signer, nonce, fee) {
  if (!signer.kind.multisig) {
    return createSingleSigSpendingCondition(signer.hashMode, signer.keys[0].pub, nonce, fee);
  }
  return createMultiSigSpendingCondition(signer.hashMode, signer.m, signer.keys.map(k => k.pub), nonce, fee);
}

// Options for the library's make* builders. The builders only know P2PKH,
// P2SH and P2SH non-sequential; other hash modes get their spending condition
// swapped in afterwards (still built by the library).
function builderAuthOptions(signer) {
  switch (signer.hashMode) {
    case AddressHashMode.P2PKH:
      return { publicKey: signer.keys[0].pub };
    case AddressHashMode.P2SH:
    case AddressHashMode.P2SHNonSequential:
      return {
        numSignatures: signer.m,
        publicKeys: signer.keys.map(k => k.pub),
        useNonSequentialMultiSig: signer.hashMode === AddressHashMode.P2SHNonSequential,
      };
    default:
      // The builder needs some key; the real spending condition is swapped in below.
      return { publicKey: newKey(true).pub };
  }
}

function signOrigin(tx, signer) {
  const s = new TransactionSigner(tx);
  if (!signer.kind.multisig) {
    s.signOrigin(signer.keys[0].priv);
    return;
  }
  signer.keys.forEach((key, i) => {
    if (signer.signing.has(i)) s.signOrigin(key.priv);
    else s.appendOrigin(key.pub);
  });
}

async function addSponsor(tx, origin, signer, nonce, fee) {
  if (!origin.kind.multisig && !signer.kind.multisig) {
    return sponsorTransaction({
      transaction: tx,
      sponsorPrivateKey: signer.keys[0].priv,
      sponsorNonce: nonce,
      fee,
      sponsorAddressHashmode: signer.hashMode,
    });
  }
  // sponsorTransaction() only takes a single-sig sponsor, and it throws
  // ("SpendingCondition has more signatures than are expected") when the
  // origin is a fully signed multisig. Do the same steps with the library's
  // lower-level API: sequential modes chain the sighash, order-independent
  // ones sign the same sighash with every key.
  tx.setSponsor(spendingCondition(signer, nonce, fee));
  let sigHash = tx.verifyOrigin();
  if (!signer.kind.multisig) {
    tx.signNextSponsor(sigHash, signer.keys[0].priv);
    return tx;
  }
  signer.keys.forEach((key, i) => {
    if (signer.signing.has(i)) {
      const next = tx.signNextSponsor(sigHash, key.priv);
      if (!isNonSequentialMultiSig(signer.hashMode)) sigHash = next;
    } else {
      const encoding = key.compressed ? PubKeyEncoding.Compressed : PubKeyEncoding.Uncompressed;
      tx.auth.sponsorSpendingCondition.fields.push(
        createTransactionAuthField(encoding, createStacksPublicKey(key.pub)),
      );
    }
  });
  return tx;
}

// The library has verifyOrigin() but no sponsor counterpart; this mirrors its
// origin check for the sponsor condition, using the library's own primitives.
function verifySponsor(tx) {
  const cond = tx.auth.sponsorSpendingCondition;
  let sigHash = tx.verifyOrigin();
  const pubKeys = [];
  let numSigs = 1;
  if (isSingleSig(cond)) {
    const v = nextVerification(sigHash, AuthType.Sponsored, cond.fee, cond.nonce, cond.keyEncoding, cond.signature.data);
    pubKeys.push(v.pubKey);
  } else {
    numSigs = cond.signaturesRequired;
    for (const field of cond.fields) {
      if (field.contents.type === StacksWireType.PublicKey) {
        pubKeys.push(field.contents);
        continue;
      }
      const v = nextVerification(sigHash, AuthType.Sponsored, cond.fee, cond.nonce, field.pubKeyEncoding, field.contents.data);
      if (!isNonSequentialMultiSig(cond.hashMode)) sigHash = v.nextSigHash;
      pubKeys.push(v.pubKey);
    }
  }
  const hash = addressFromPublicKeys(0, cond.hashMode, numSigs, pubKeys).hash160;
  if (hash !== cond.signer) throw new Error(`sponsor signer ${cond.signer} != hash of recovered keys ${hash}`);
}

// ---------------------------------------------------------------------------
// payloads

const PAYLOAD_KINDS = ['token-transfer', 'contract-call', 'contract-call', 'smart-contract', 'versioned-smart-contract'];

const MAX_CODE_BYTES = 40_000;

function randomCodeBody() {
  const lines = [`;; generated by gen-txs.mjs ${randomString(ALNUM, 4, 12)}`];
  // a few bodies are tens of KiB, but stay below MAX_CODE_BYTES so the whole
  // tx hex fits in one command-line argument (see README)
  const forms = rng.chance(0.95) ? rng.int(1, 12) : rng.int(150, 400);
  let size = lines[0].length;
  for (let i = 0; i < forms && size < MAX_CODE_BYTES; i++) {
    const name = `${clarityName().replace(/[?!]$/, '')}-${i}`;
    switch (rng.int(0, 4)) {
      case 0: lines.push(`(define-data-var ${name} uint u${rng.bits(32)})`); break;
      case 1: lines.push(`(define-constant ${name} "${randomString(ALNUM + ' .,', 0, 40)}")`); break;
      case 2: lines.push(`(define-map ${name} principal { amount: uint, memo: (buff 34) })`); break;
      case 3: lines.push(`(define-read-only (${name} (x int))\n  (+ x ${rng.int(-1000, 1000)}))`); break;
      default: lines.push(`(define-public (${name} (to principal) (amount uint))\n  (stx-transfer? amount tx-sender to))`);
    }
    size += lines[lines.length - 1].length + 1;
  }
  return lines.join('\n') + '\n';
}

function randomMemo() {
  if (rng.chance(0.35)) return { label: 'no-memo', memo: undefined };
  if (rng.chance(0.3)) {
    // non-ASCII memo, at most 34 UTF-8 bytes
    let s = rng.pick(UTF8_SAMPLES);
    while (rng.chance(0.85)) {
      const next = s + rng.pick(UTF8_SAMPLES);
      if (Buffer.byteLength(next, 'utf8') > 34) break;
      s = next;
    }
    return { label: 'memo-utf8', memo: s };
  }
  return { label: 'memo', memo: randomString(ALNUM + ' -_.:', 1, 34) };
}

// Builds the unsigned transaction with the library's make* builders.
async function buildUnsigned(payloadKind, network, common) {
  const pcs = rng.chance(0.3) ? [] : Array.from({ length: rng.int(1, 6) }, () => randomPostCondition(network));
  const mode = rng.pick(postConditionModes);
  const withPcs = { postConditions: pcs.map(p => p.pc), postConditionMode: mode };
  let tx;
  let label;
  switch (payloadKind) {
    case 'token-transfer': {
      const toContract = rng.chance(0.3);
      const address = randomAddress(network);
      const recipient = toContract ? `${address}.${contractName()}` : address;
      const { label: memoLabel, memo } = randomMemo();
      tx = await makeUnsignedSTXTokenTransfer({ ...common, recipient, amount: randomAmount64(), memo });
      label = `token-transfer-${toContract ? 'to-contract' : 'to-standard'}-${memoLabel}`;
      // The builder takes no post conditions for transfers (defaults: none,
      // deny); the wire format allows them, so sometimes set them directly.
      if (rng.chance(0.3)) {
        tx.postConditions = createLPList(pcs.map(p => postConditionToWire(p.pc)));
        tx.postConditionMode = PostConditionMode[mode[0].toUpperCase() + mode.slice(1)];
      } else {
        pcs.length = 0;
      }
      break;
    }
    case 'contract-call': {
      const functionArgs = randomArgs();
      tx = await makeUnsignedContractCall({
        ...common,
        ...withPcs,
        contractAddress: randomAddress(network),
        contractName: contractName(),
        functionName: clarityName(),
        functionArgs,
      });
      label = `contract-call-${functionArgs.length}args`;
      break;
    }
    case 'smart-contract':
      // clarityVersion must be present-but-undefined: when the key is left
      // out the builder defaults to a versioned (Clarity 4) payload.
      tx = await makeUnsignedContractDeploy({
        ...common,
        ...withPcs,
        contractName: contractName(),
        codeBody: randomCodeBody(),
        clarityVersion: undefined,
      });
      label = 'smart-contract';
      break;
    case 'versioned-smart-contract': {
      const clarityVersion = rng.int(1, maxClarity);
      tx = await makeUnsignedContractDeploy({
        ...common,
        ...withPcs,
        contractName: contractName(),
        codeBody: randomCodeBody(),
        clarityVersion,
      });
      label = `versioned-smart-contract-clarity${clarityVersion}`;
      break;
    }
  }
  const pcLabel = pcs.length ? `pc[${pcs.map(p => p.label).join(',')}]` : 'no-pc';
  return { tx, label: `${label}:${pcLabel}:mode-${tx.postConditionMode}` };
}

// ---------------------------------------------------------------------------
// one transaction

function fail(message) {
  console.error(`gen-txs: ${message} (seed ${seed})`);
  process.exit(1);
}

async function generate(index) {
  const network = rng.chance(0.5) ? 'mainnet' : 'testnet';
  const payloadKind = PAYLOAD_KINDS[index % PAYLOAD_KINDS.length];
  const origin = newSigner(AUTH_KINDS[Math.floor(index / PAYLOAD_KINDS.length) % AUTH_KINDS.length]);
  const sponsored = rng.chance(0.35);
  const sponsor = sponsored ? newSigner(rng.pick(AUTH_KINDS)) : null;
  const originNonce = randomNonceOrFee();
  const originFee = sponsored && rng.chance(0.5) ? 0 : randomNonceOrFee();

  const common = { network, nonce: originNonce, fee: originFee, sponsored, ...builderAuthOptions(origin) };
  let { tx, label } = await buildUnsigned(payloadKind, network, common);
  if (tx.auth.spendingCondition.hashMode !== origin.hashMode) {
    tx.auth.spendingCondition = spendingCondition(origin, originNonce, originFee);
  }
  signOrigin(tx, origin);

  let sponsorNonce;
  let sponsorFee;
  if (sponsored) {
    sponsorNonce = randomNonceOrFee();
    sponsorFee = randomNonceOrFee();
    tx = await addSponsor(tx, origin, sponsor, sponsorNonce, sponsorFee);
  }

  const name =
    `${String(index).padStart(4, '0')}:${network}:${label}:origin-${origin.label}` +
    (sponsored ? `:sponsor-${sponsor.label}` : '');

  // --- the library must accept what it produced
  const hex = tx.serialize();
  try {
    tx.verifyOrigin();
    if (sponsored) verifySponsor(tx);
    const again = deserializeTransaction(hex);
    if (again.serialize() !== hex) throw new Error('deserialize/serialize round trip changed the bytes');
    if (again.txid() !== tx.txid()) throw new Error('txid changed after round trip');
    again.verifyOrigin();
    if (sponsored) verifySponsor(again);
  } catch (err) {
    fail(`${name}: library self-check failed: ${err.message}`);
  }

  const auth = tx.auth;
  const out = {
    name,
    hex,
    txid: tx.txid(),
    network,
    sponsored,
    origin_hash_mode: auth.spendingCondition.hashMode,
    origin_signer: auth.spendingCondition.signer,
    origin_nonce: Number(auth.spendingCondition.nonce),
    origin_fee: Number(auth.spendingCondition.fee),
  };
  if (sponsored) {
    out.sponsor_hash_mode = auth.sponsorSpendingCondition.hashMode;
    out.sponsor_signer = auth.sponsorSpendingCondition.signer;
    out.sponsor_nonce = Number(auth.sponsorSpendingCondition.nonce);
    out.sponsor_fee = Number(auth.sponsorSpendingCondition.fee);
  }
  out.payload_type = tx.payload.payloadType;
  out.post_condition_count = tx.postConditions.values.length;
  out.post_condition_mode = tx.postConditionMode;

  // the builders were given these values; make sure nothing got lost
  const expect = [
    [out.origin_hash_mode, origin.hashMode, 'origin hash mode'],
    [out.origin_nonce, originNonce, 'origin nonce'],
    [out.origin_fee, originFee, 'origin fee'],
    ...(sponsored
      ? [
          [out.sponsor_hash_mode, sponsor.hashMode, 'sponsor hash mode'],
          [out.sponsor_nonce, sponsorNonce, 'sponsor nonce'],
          [out.sponsor_fee, sponsorFee, 'sponsor fee'],
        ]
      : []),
  ];
  for (const [got, want, what] of expect) {
    if (got !== want) fail(`${name}: ${what} is ${got}, expected ${want}`);
  }
  return out;
}

for (let i = 0; i < opts.count; i++) {
  let line;
  try {
    line = JSON.stringify(await generate(i));
  } catch (err) {
    fail(`transaction #${i}: the library threw: ${err.stack}`);
  }
  process.stdout.write(line + '\n');
}
