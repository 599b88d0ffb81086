// The Gaia mirror against the official client, @stacks/storage (and jsontokens, which the
// hub itself verifies tokens with). See README.md.
//   node gaia.mjs check HUB_URL STACKS_RELAY_BIN
//       the official client writes into the hub (stand-in) and reads back; our bucket
//       address equals the client's for the same key; our token (stacks-relay gaia
//       --token) verifies with jsontokens, carries what the hub checks, and writes
//       through the official client's upload.
//   node gaia.mjs read HUB_URL KEY_HEX PATH=SHA256HEX...
//       the official client reads each file of the bucket of KEY_HEX (e.g. written by the
//       relay's mirror) and compares its SHA-256.
import { connectToGaiaHub, uploadToGaiaHub, Storage } from '@stacks/storage';
import { TokenVerifier, decodeToken } from 'jsontokens';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sha256 = (b) => createHash('sha256').update(b).digest('hex');
let failures = 0;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures += 1;
};

// A user session as far as Storage needs one: the key, the hub and its connection.
function storageFor(keyHex, hubUrl, hubConfig) {
  const userData = { appPrivateKey: keyHex, hubUrl, gaiaHubConfig: hubConfig };
  const sessionData = { userData, etags: {} };
  const session = {
    store: { getSessionData: () => sessionData, setSessionData: () => {} },
    loadUserData: () => userData,
    appConfig: { appDomain: 'http://localhost' },
  };
  return new Storage({ userSession: session });
}

async function readBack(hubUrl, keyHex, pairs) {
  const cfg = await connectToGaiaHub(hubUrl, keyHex);
  const storage = storageFor(keyHex, hubUrl, cfg);
  for (const pair of pairs) {
    const [path, want] = pair.split('=');
    let got = null;
    try {
      const body = await storage.getFile(path, { decrypt: false, verify: false });
      got = sha256(Buffer.from(typeof body === 'string' ? Buffer.from(body, 'binary') : new Uint8Array(body)));
    } catch (e) {
      got = `error: ${e.message}`;
    }
    check(got === want, `read ${path} through @stacks/storage: ${got === want ? 'same bytes' : got}`);
  }
  return cfg;
}

async function main() {
  const [mode, hubUrl, ...rest] = process.argv.slice(2);
  if (mode === 'read') {
    const [keyHex, ...pairs] = rest;
    await readBack(hubUrl, keyHex, pairs);
  } else if (mode === 'check') {
    const [relayBin] = rest;
    const keyHex = randomBytes(32).toString('hex');
    const cfg = await connectToGaiaHub(hubUrl, keyHex);
    // The official client writes, as an app would; a second create of the same file is a 412.
    const data = randomBytes(5000);
    const up = await uploadToGaiaHub('blocks/v3/official.bin', data, cfg, 'application/octet-stream', true);
    check(up.publicURL === `${cfg.url_prefix}${cfg.address}/blocks/v3/official.bin`, `the hub took the official client's token (${up.publicURL})`);
    let again = 'written twice';
    try {
      await uploadToGaiaHub('blocks/v3/official.bin', data, cfg, 'application/octet-stream', true);
    } catch (e) {
      again = e.name || e.message;
    }
    check(/PreconditionFailed/.test(again), `a second create is refused as the hub does (${again})`);
    await readBack(hubUrl, keyHex, [`blocks/v3/official.bin=${sha256(data)}`]);

    // Ours: the same key in a relay config, stacks-relay gaia --token.
    const dir = mkdtempSync(join(tmpdir(), 'srl-gaia-'));
    try {
      writeFileSync(join(dir, 'gaia.key'), `${keyHex}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'relay.toml'), `[node]\ndata_dir = "${dir}"\n[gaia]\nhub_url = "${hubUrl}"\nkey_file = "${join(dir, 'gaia.key')}"\n`);
      const ours = JSON.parse(execFileSync(relayBin, ['gaia', '--config', join(dir, 'relay.toml'), '--token']).toString());
      check(ours.bucket === cfg.address, `our bucket address ${ours.bucket} is the client's (${cfg.address})`);
      check(ours.read_url === `${cfg.url_prefix}${cfg.address}/`, `our read URL is the client's`);
      const jwt = ours.token.replace(/^v1:/, '');
      const decoded = decodeToken(jwt);
      check(decoded.header.alg === 'ES256K' && decoded.header.typ === 'JWT', 'our token says ES256K JWT');
      const info = await (await fetch(`${hubUrl}/hub_info`)).json();
      check(decoded.payload.gaiaChallenge === info.challenge_text, 'our token signs the hub\'s challenge verbatim');
      check(decoded.payload.iss === ours.public_key && decoded.payload.hubUrl === hubUrl, 'iss and hubUrl');
      check(typeof decoded.payload.iat === 'number' && decoded.payload.exp > decoded.payload.iat, 'iat and exp');
      check(new TokenVerifier('ES256K', decoded.payload.iss).verify(jwt) === true, 'jsontokens verifies our signature');
      const flipped = jwt.slice(0, -3) + (jwt.slice(-3, -2) === 'A' ? 'B' : 'A') + jwt.slice(-2);
      let forged = true;
      try {
        forged = new TokenVerifier('ES256K', decoded.payload.iss).verify(flipped);
      } catch (e) {
        forged = false;
      }
      check(forged === false, 'jsontokens refuses it with its signature altered');
      const mine = randomBytes(3000);
      const up2 = await uploadToGaiaHub('blocks/v3/ours.bin', mine, { ...cfg, token: ours.token }, 'application/octet-stream', true);
      check(up2.publicURL.endsWith('/blocks/v3/ours.bin'), 'the official client wrote with our token');
      await readBack(hubUrl, keyHex, [`blocks/v3/ours.bin=${sha256(mine)}`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    console.error('usage: node gaia.mjs check HUB_URL STACKS_RELAY_BIN | read HUB_URL KEY_HEX PATH=SHA256...');
    process.exit(2);
  }
  console.log(failures === 0 ? 'gaia crosscheck: all good' : `gaia crosscheck: ${failures} failed`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`gaia crosscheck: ${e.stack || e}`);
  process.exit(1);
});
