/**
 * The real worker thread behind the handshake offload
 * (src/platform/node/handshake-worker.ts). This bundle is also the worker's
 * script, as wgts's own bundle is in production: started as the worker, it
 * serves jobs and registers no tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeNetwork, ipv4Packet } from '../helpers/fake-world';
import { parseCidr } from '../../src/device/ip';
import type { InitiationWork } from '../../src/device/handshake-offload';
import { CookieGenerator } from '../../src/protocol/cookie';
import { MessageType } from '../../src/protocol/messages';
import { createInitiation, Handshake, openInitiation, StaticIdentity } from '../../src/protocol/noise';
import { tai64nFromUnixMs } from '../../src/protocol/tai64n';
import { nativeCrypto } from '../../src/platform/node/native-crypto';
import { nobleCrypto } from '../../src/crypto/noble';
import { runHandshakeWorkerIfAsked, WorkerHandshakeOffload } from '../../src/platform/node/handshake-worker';

const crypto = nativeCrypto;

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The fields as plain Uint8Arrays (node:crypto hands out Buffers), for deepEqual. */
function plain<T extends object>(fields: T): Record<keyof T, Uint8Array> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Uint8Array.from(v as Uint8Array)])) as Record<keyof T, Uint8Array>;
}

/** An offload whose worker has started (the first submit only starts it and declines). */
async function startedOffload(idleStopMs?: number): Promise<{ offload: WorkerHandshakeOffload; logs: string[] }> {
  const logs: string[] = [];
  const offload = new WorkerHandshakeOffload(__filename, crypto, (level, message) => logs.push(`${level}: ${message}`), idleStopMs);
  assert.equal(offload.submit(new Uint8Array(32), new Uint8Array(148), () => assert.fail('declined work is never done')), false);
  await until(() => offload.accepting, 'the worker to start');
  return { offload, logs };
}

/** An initiation from a fresh initiator to `responder`, with what is needed to check the worker's answer. */
function initiationTo(responder: StaticIdentity) {
  const initiator = new StaticIdentity(crypto, crypto.generatePrivateKey());
  const remote = {
    remoteStatic: responder.publicKey,
    presharedKey: new Uint8Array(32),
    staticStatic: initiator.staticStatic(responder.publicKey),
  };
  const hs = new Handshake();
  const message = createInitiation(initiator, remote, hs, 7, tai64nFromUnixMs(Date.now()))!;
  new CookieGenerator(crypto, responder.publicKey).addMacs(message, 0);
  return { initiator, ephemeralPrivate: hs.localEphemeralPrivate!, message };
}

if (!runHandshakeWorkerIfAsked()) {
  test('the worker opens initiations and prepares the response keys the initiator will agree on', async () => {
    const { offload } = await startedOffload();
    try {
      const responder = new StaticIdentity(crypto, crypto.generatePrivateKey());
      const cases = Array.from({ length: 10 }, () => initiationTo(responder));
      const results: (InitiationWork | undefined)[] = [];
      for (const c of cases) assert.ok(offload.submit(responder.privateKey, c.message, (work) => results.push(work)));
      await until(() => results.length === cases.length, 'the results');
      cases.forEach((c, i) => {
        const work = results[i];
        assert.ok(work, `initiation ${i} opened`);
        // The opened part is deterministic: the same as on this thread.
        const here = openInitiation(responder, c.message)!;
        assert.deepEqual(plain(work.opened), plain(here), `initiation ${i}: same transcript, in order`);
        assert.deepEqual(plain(work.opened).remoteStatic, Uint8Array.from(c.initiator.publicKey));
        // The response's keys are fresh; the initiator's side of the DH must match them.
        assert.deepEqual(work.keys.ee, Uint8Array.from(crypto.x25519(c.ephemeralPrivate, work.keys.ephemeralPublic)!));
        assert.deepEqual(work.keys.se, Uint8Array.from(crypto.x25519(c.initiator.privateKey, work.keys.ephemeralPublic)!));
      });
      // Another responder key in the same batch: the worker follows the key given with each job.
      const other = new StaticIdentity(crypto, crypto.generatePrivateKey());
      const mixed = [initiationTo(other), initiationTo(responder)];
      const more: (InitiationWork | undefined)[] = [];
      offload.submit(other.privateKey, mixed[0]!.message, (work) => more.push(work));
      offload.submit(other.privateKey, mixed[1]!.message, (work) => more.push(work));
      await until(() => more.length === 2, 'the results');
      assert.deepEqual(more[0]?.opened.remoteStatic, Uint8Array.from(mixed[0]!.initiator.publicKey));
      assert.equal(more[1], undefined, 'an initiation to another key does not open');
    } finally {
      offload.close();
    }
  });

  test('a responder device with the worker answers a backlog of initiations end to end', async () => {
    const { offload } = await startedOffload();
    try {
      const net = new FakeNetwork();
      const b = net.addNode('B', '192.0.2.1', 51820, crypto, offload);
      b.device.setPrivateKey(crypto.generatePrivateKey());
      b.device.up();
      b.deferHandshakes = true;
      const initiators = Array.from({ length: 40 }, (_, i) => {
        const a = net.addNode(`A${i}`, `198.51.100.${i + 1}`, 51820, i % 2 ? crypto : nobleCrypto);
        a.device.setPrivateKey(crypto.generatePrivateKey());
        const toB = a.device.addPeer(b.device.publicKey!);
        a.device.setPeerAllowedIps(toB, [parseCidr('10.0.0.1/32')]);
        a.device.setPeerEndpoint(toB, b.endpoint);
        a.device.up();
        b.device.setPeerAllowedIps(b.device.addPeer(a.device.publicKey!), [parseCidr(`10.1.0.${i + 1}/32`)]);
        a.device.handleTunPacket(ipv4Packet(`10.1.0.${i + 1}`, '10.0.0.1', 40));
        return a;
      });
      net.deliver();
      while (b.sent.length < initiators.length) {
        b.device.processHandshakes();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.ok(b.sent.every((s) => s.datagram[0] === MessageType.HandshakeResponse));
      net.deliver();
      assert.equal(b.tun.length, initiators.length, 'every initiator\'s packet arrived through its session');
      assert.equal(b.device.drops.total(), 0);
    } finally {
      offload.close();
    }
  });

  test('work outstanding when the offload closes is finished on this thread', async () => {
    const { offload } = await startedOffload();
    const responder = new StaticIdentity(crypto, crypto.generatePrivateKey());
    const cases = Array.from({ length: 8 }, () => initiationTo(responder));
    const results: (InitiationWork | undefined)[] = [];
    // Six posted to the worker (the batch leaves in a microtask), two not yet.
    for (const c of cases.slice(0, 6)) offload.submit(responder.privateKey, c.message, (work) => results.push(work));
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    for (const c of cases.slice(6)) offload.submit(responder.privateKey, c.message, (work) => results.push(work));
    offload.close();
    assert.equal(results.length, cases.length, 'every job done before close() returns');
    results.forEach((work, i) => assert.deepEqual(plain(work!.opened).remoteStatic, Uint8Array.from(cases[i]!.initiator.publicKey)));
    assert.equal(offload.running, false);
    assert.equal(offload.submit(responder.privateKey, cases[0]!.message, () => {}), false, 'a closed offload takes no work');
  });

  test('an idle worker is ended, and started again on demand', async () => {
    const { offload } = await startedOffload(150);
    try {
      // Started for a backlog that is gone before it is ready: it ends by itself.
      await until(() => !offload.running, 'the unused worker to end');
      const responder = new StaticIdentity(crypto, crypto.generatePrivateKey());
      let done = 0;
      // The first submit starts it again and is declined; the next ones go to it.
      while (!offload.submit(responder.privateKey, initiationTo(responder).message, () => done++)) {
        await until(() => offload.accepting || !offload.running, 'the worker to start');
      }
      await until(() => done === 1, 'the result');
      await until(() => !offload.running, 'the idle worker to end');
      assert.equal(offload.submit(responder.privateKey, initiationTo(responder).message, () => done++), false);
      await until(() => offload.accepting, 'the worker to start again');
    } finally {
      offload.close();
    }
  });

  test('a result whose handler throws does not keep the others from theirs', async () => {
    const { offload, logs } = await startedOffload();
    try {
      const responder = new StaticIdentity(crypto, crypto.generatePrivateKey());
      const handled: number[] = [];
      for (let i = 0; i < 3; i++) {
        offload.submit(responder.privateKey, initiationTo(responder).message, () => {
          handled.push(i);
          if (i === 1) throw new Error('handler failed');
        });
      }
      await until(() => handled.length === 3, 'every handler');
      assert.deepEqual(handled, [0, 1, 2]);
      assert.deepEqual(logs.filter((l) => l.startsWith('warn')), ['warn: handshake: handler failed']);
    } finally {
      offload.close();
    }
  });

  test('a worker that fails leaves handshakes on this thread for good, and says so', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'wgts-worker-'));
    try {
      const script = path.join(dir, 'broken.cjs');
      writeFileSync(script, "throw new Error('no crypto here');\n");
      const logs: string[] = [];
      const offload = new WorkerHandshakeOffload(script, crypto, (level, message) => logs.push(`${level}: ${message}`));
      assert.equal(offload.submit(new Uint8Array(32), new Uint8Array(148), () => {}), false);
      await until(() => logs.length > 0 && !offload.running, 'the failure');
      assert.match(logs[0]!, /^warn: handshake worker failed \(no crypto here\)/);
      assert.equal(offload.submit(new Uint8Array(32), new Uint8Array(148), () => {}), false);
      assert.equal(offload.running, false, 'not started again');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
