/**
 * The wgts command line as a user meets it: key tools byte-compatible with the
 * real wg, invalid configs refused before anything is created, and a daemon that
 * shrugs off garbage on its UDP port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createTwoSiteNetwork,
  endpoint,
  genKeyPair,
  ping,
  startWgts,
  uniqueIfname,
  wgtsBundlePath,
} from '../helpers/netns';
import type { InitiationWork } from '../../src/device/handshake-offload';
import { createInitiation, Handshake, StaticIdentity } from '../../src/protocol/noise';
import { tai64nFromUnixMs } from '../../src/protocol/tai64n';
import { WorkerHandshakeOffload } from '../../src/platform/node/handshake-worker';
import { nativeCrypto } from '../../src/platform/node/native-crypto';

const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';

test('the bundle serves as its own handshake worker (and runs no command line there)', async () => {
  const logs: string[] = [];
  const offload = new WorkerHandshakeOffload(bundle, nativeCrypto, (level, message) => logs.push(`${level}: ${message}`));
  try {
    assert.equal(offload.submit(new Uint8Array(32), new Uint8Array(148), () => {}), false, 'the first one starts it');
    const deadline = Date.now() + 15_000;
    while (!offload.accepting) {
      assert.ok(offload.running && Date.now() < deadline, `the worker did not start: ${logs.join('; ')}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const responder = new StaticIdentity(nativeCrypto, nativeCrypto.generatePrivateKey());
    const initiator = new StaticIdentity(nativeCrypto, nativeCrypto.generatePrivateKey());
    const remote = { remoteStatic: responder.publicKey, presharedKey: new Uint8Array(32), staticStatic: initiator.staticStatic(responder.publicKey) };
    const message = createInitiation(initiator, remote, new Handshake(), 1, tai64nFromUnixMs(Date.now()))!;
    const work = await new Promise<InitiationWork | undefined>((resolve) => {
      assert.ok(offload.submit(responder.privateKey, message, resolve));
    });
    assert.deepEqual(Uint8Array.from(work!.opened.remoteStatic), Uint8Array.from(initiator.publicKey));
    assert.deepEqual(logs.filter((line) => line.startsWith('warn')), []);
  } finally {
    offload.close();
  }
});
const bundle = wgtsBundlePath();

function wgts(args: string[], input?: string) {
  return spawnSync(process.execPath, [bundle, ...args], { input, encoding: 'utf8' });
}

function wg(args: string[], input?: string) {
  return spawnSync('wg', args, { input, encoding: 'utf8' });
}

test('genkey, pubkey and genpsk are byte-compatible with wg', () => {
  for (let i = 0; i < 5; i++) {
    const ours = wgts(['genkey']).stdout;
    assert.match(ours, /^[A-Za-z0-9+/]{43}=\n$/);
    assert.equal(wgts(['pubkey'], ours).stdout, wg(['pubkey'], ours).stdout, 'same public key for our private key');
    const theirs = wg(['genkey']).stdout;
    assert.equal(wgts(['pubkey'], theirs).stdout, wg(['pubkey'], theirs).stdout, 'same public key for wg\'s private key');
  }
  // An unclamped private key: both tools clamp before deriving the public key.
  const unclamped = Buffer.alloc(32, 0xff).toString('base64') + '\n';
  assert.equal(wgts(['pubkey'], unclamped).stdout, wg(['pubkey'], unclamped).stdout);
  assert.match(wgts(['genpsk']).stdout, /^[A-Za-z0-9+/]{43}=\n$/);
  const bad = wgts(['pubkey'], 'not a key\n');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /Key is not the correct length or format/);
});

test('an invalid config is refused with file, line and field, and nothing is created', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-cli-'));
  try {
    const name = uniqueIfname('wgbad');
    const file = path.join(dir, `${name}.conf`);
    const good = wg(['genkey']).stdout.trim();
    const cases: [string, RegExp][] = [
      [`[Interface]\nPrivateKey = ${good}\nListenPort = 70000\n`, /:3: ListenPort: /],
      [`[Interface]\nPrivateKey = nope\n`, /:2: PrivateKey: /],
      [`[Interface]\nPrivateKey = ${good}\n[Peer]\nPublicKey = ${good}\nAllowedIPs = 10.0.0.0/33\n`, /:5: AllowedIPs: /],
      [`[Interface]\nPrivateKey = ${good}\nColour = blue\n`, /:3: Colour: /],
    ];
    for (const [text, expected] of cases) {
      fs.writeFileSync(file, text, { mode: 0o600 });
      const r = wgts(['up', '-f', file]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.match(r.stderr, expected);
      assert.doesNotMatch(r.stderr, new RegExp(good.replace(/[+/=]/g, '.')), 'the private key is never echoed');
      assert.notEqual(spawnSync('ip', ['link', 'show', name]).status, 0, 'no interface was created');
      assert.equal(fs.existsSync(`/var/run/wireguard/${name}.sock`), false, 'no socket was created');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a flood of malformed and forged datagrams is dropped while the tunnel keeps working', { skip, timeout: 120_000 }, async () => {
  const net = await createTwoSiteNetwork();
  try {
    const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
    const a = await startWgts(net, net.a.ns, uniqueIfname('wga'), {
      privateKey: ka.privateKey,
      listenPort: 51820,
      addresses: ['10.99.0.1/24'],
      peers: [{ publicKey: kb.publicKey, allowedIps: ['10.99.0.2/32'], endpoint: endpoint(net.b.ipv4, 51820) }],
    });
    const b = await startWgts(net, net.b.ns, uniqueIfname('wgb'), {
      privateKey: kb.privateKey,
      listenPort: 51820,
      addresses: ['10.99.0.2/24'],
      peers: [{ publicKey: ka.publicKey, allowedIps: ['10.99.0.1/32'] }],
    });
    const first = await ping(net, net.a.ns, '10.99.0.2', { count: 1, timeoutSec: 10 });
    assert.ok(first.received >= 1, first.output);

    // From B's namespace, throw 20,000 hostile datagrams at A's port: random bytes, and
    // every message type with random content at valid and off-by-one lengths.
    const flood = `
      const dgram = require('node:dgram');
      const crypto = require('node:crypto');
      const s = dgram.createSocket('udp4');
      const lengths = [1, 3, 4, 31, 32, 33, 63, 64, 65, 91, 92, 93, 147, 148, 149, 1500];
      let sent = 0;
      function burst() {
        for (let i = 0; i < 500; i++, sent++) {
          const len = lengths[sent % lengths.length];
          const d = crypto.randomBytes(len);
          if (sent % 3 !== 0) { d[0] = 1 + (sent % 4); d[1] = d[2] = d[3] = 0; }
          s.send(d, 51820, '${net.a.ipv4}');
        }
        if (sent < 20000) setTimeout(burst, 5); else setTimeout(() => s.close(), 100);
      }
      burst();`;
    const floodResult = await net.exec(net.b.ns, [process.execPath, '-e', flood], { timeoutMs: 60_000 });
    assert.equal(floodResult.code, 0, floodResult.stderr);

    const after = await ping(net, net.a.ns, '10.99.0.2', { count: 5, interval: 0.1, timeoutSec: 8 });
    assert.equal(after.received, 5, `tunnel still carries traffic after the flood\n${after.output}`);
    assert.equal(a.exitCode(), null, 'daemon A still running');
    assert.equal(b.exitCode(), null, 'daemon B still running');
    await a.stop();
    // On shutdown the daemon reports what it dropped and why.
    const summary = /dropped (\d+) packets\/datagrams: (.*)/.exec(a.stderr());
    assert.ok(summary, a.stderr().slice(-2000));
    // A few may be lost in the socket buffer, but the garbage is accounted for, not delivered.
    assert.ok(Number(summary[1]) >= 19_000, `drop counters account for the flood: ${summary[0]}`);
  } finally {
    await net.cleanup();
  }
});
