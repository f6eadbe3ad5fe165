import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import type { Endpoint, SendCallback, UdpTransport } from '../../src/platform/types';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { endpointFromRemote, openUdpTransport, type UdpTransportOptions } from '../../src/platform/node/udp';
import { rebindUdp } from '../../src/platform/node/udp-backend';
import { loadTunAddon } from '../../src/platform/node/addon-tun';
import { AddonUdpTransport, udpAddonOf } from '../../src/platform/node/addon-udp';
import { compileTunBackend, nodeInclude } from '../helpers/tun-backends';

interface Received {
  data: string;
  from: Endpoint;
}

function nextDatagram(transport: UdpTransport): Promise<Received> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no datagram within 2 s')), 2000);
    transport.onDatagram((datagram, from) => {
      clearTimeout(timer);
      assert.ok(datagram instanceof Uint8Array);
      resolve({ data: Buffer.from(datagram).toString(), from });
    });
  });
}

function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    probe.once('error', () => resolve(false));
    probe.bind(0, '::1', () => {
      probe.close();
      resolve(true);
    });
  });
}


/**
 * The same tests run on both UDP backends: node's dgram (udp.ts) and the wgts-tun.node
 * module's batched sockets (addon-udp.ts, udp-addon.c), the latter built here from the
 * sources as `make build` builds it. Without node's headers (a unit-test run without
 * `make system-deps`) the module's half is skipped, saying so.
 */
interface Backend {
  name: string;
  open(opts: UdpTransportOptions): Promise<UdpTransport>;
}

function moduleBackend(): Backend | string {
  if (!fs.existsSync(path.join(nodeInclude(), 'node_api.h'))) return `no node_api.h in ${nodeInclude()}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-udp-test-'));
  try {
    const addon = udpAddonOf(loadTunAddon(compileTunBackend('addon', dir)));
    assert.ok(addon, 'the module has its UDP half');
    return { name: 'module', open: (opts) => AddonUdpTransport.open(addon, opts) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true }); // node keeps the loaded module mapped
  }
}

const dgramBackend: Backend = { name: 'dgram', open: openUdpTransport };
const moduleOrWhyNot = moduleBackend();

for (const backend of [dgramBackend, moduleOrWhyNot]) {
  if (typeof backend === 'string') {
    test('module: the UDP backend tests', { skip: backend }, () => {});
    continue;
  }
  test(`${backend.name}: two transports exchange datagrams over IPv4 and report the sender as family 4`, async () => {
    const a = await backend.open({ port: 0 });
    const b = await backend.open({ port: 0 });
    try {
      assert.ok(a.port > 0 && b.port > 0 && a.port !== b.port);
      const got = nextDatagram(b);
      a.send(new TextEncoder().encode('hello over v4'), { family: 4, address: '127.0.0.1', port: b.port });
      assert.deepEqual(await got, {
        data: 'hello over v4',
        from: { family: 4, address: '127.0.0.1', port: a.port },
      });
    } finally {
      a.close();
      b.close();
    }
  });

  test(`${backend.name}: the IPv6 socket listens on the same port and replies go out over IPv6`, async (t) => {
    if (!(await hasIpv6Loopback())) {
      t.skip('no IPv6 loopback on this host');
      return;
    }
    const a = await backend.open({ port: 0 });
    const b = await backend.open({ port: 0 });
    try {
      const got = nextDatagram(b);
      a.send(new TextEncoder().encode('hello over v6'), { family: 6, address: '::1', port: b.port });
      const received = await got;
      assert.deepEqual(received, {
        data: 'hello over v6',
        from: { family: 6, address: '::1', port: a.port },
      });
      // Answer the endpoint exactly as reported.
      const back = nextDatagram(a);
      b.send(new TextEncoder().encode('reply'), received.from);
      assert.deepEqual(await back, { data: 'reply', from: { family: 6, address: '::1', port: b.port } });
    } finally {
      a.close();
      b.close();
    }
  });

  test(`${backend.name}: an explicit port is used for both families and a second bind of it fails`, async () => {
    const first = await backend.open({ port: 0 });
    const port = first.port;
    first.close();
    const transport = await backend.open({ port });
    try {
      assert.equal(transport.port, port);
      await assert.rejects(backend.open({ port }), { code: 'EADDRINUSE' });
    } finally {
      transport.close();
    }
  });

  test(`${backend.name}: rebind moves to a new port, keeps the handler and frees the old port`, async () => {
    const sender = await backend.open({ port: 0 });
    const old = await backend.open({ port: 0 });
    const oldPort = old.port;
    const seen: string[] = [];
    old.onDatagram((d) => seen.push(Buffer.from(d).toString()));
    try {
      const moved = await rebindUdp(old, { port: 0 }, () => {}, backend.open);
      try {
        assert.notEqual(moved.port, oldPort);
        sender.send(new TextEncoder().encode('after rebind'), { family: 4, address: '127.0.0.1', port: moved.port });
        for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(seen, ['after rebind']);
        // The old port is free again.
        const reuse = await backend.open({ port: oldPort });
        reuse.close();
      } finally {
        moved.close();
      }
    } finally {
      sender.close();
    }
  });

  test(`${backend.name}: runs of equal-sized datagrams, a shorter last one and a 60,000-byte one arrive whole and in order`, async () => {
    // The module sends each run to one endpoint as one UDP GSO message and reads merged
    // runs (GRO) back apart: what must come out is still one datagram per send.
    const a = await backend.open({ port: 0 });
    const b = await backend.open({ port: 0 });
    try {
      const sizes = [...Array(100).fill(1400), 700, ...Array(20).fill(100), 1, 60_000, 1400];
      const got: { length: number; first: number; last: number; from: Endpoint }[] = [];
      const all = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${got.length} of ${sizes.length} datagrams within 5 s`)), 5000);
        b.onDatagram((datagram, from) => {
          got.push({ length: datagram.length, first: datagram[0]!, last: datagram[datagram.length - 1]!, from });
          if (got.length === sizes.length) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const to: Endpoint = { family: 4, address: '127.0.0.1', port: b.port };
      sizes.forEach((size, i) => a.send(new Uint8Array(size).fill(i & 0xff), to));
      await all;
      assert.deepEqual(got.map((d) => d.length), sizes);
      got.forEach((d, i) => assert.ok(d.first === (i & 0xff) && d.last === (i & 0xff), `datagram ${i} holds its own bytes`));
      for (const d of got) assert.deepEqual(d.from, { family: 4, address: '127.0.0.1', port: a.port });
    } finally {
      a.close();
      b.close();
    }
  });

  test(`${backend.name}: send after close is a no-op, not an exception`, async () => {
    const transport = await backend.open({ port: 0 });
    transport.close();
    transport.close();
    transport.send(new Uint8Array([1]), { family: 4, address: '127.0.0.1', port: 9 });
  });

  test(`${backend.name}: the caller may reuse its buffer as soon as send returns`, async () => {
    const a = await backend.open({ port: 0 });
    const b = await backend.open({ port: 0 });
    try {
      const count = 300;
      const received = new Set<string>();
      const all = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${received.size} of ${count} datagrams within 5 s`)), 5000);
        b.onDatagram((datagram) => {
          received.add(Buffer.from(datagram).toString());
          if (received.size === count) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const scratch = new Uint8Array(64);
      let sent = 0;
      for (let i = 0; i < count; i++) {
        const text = new TextEncoder().encode(`datagram ${i}`.padEnd(64, '.'));
        scratch.set(text);
        a.send(scratch, { family: 4, address: '127.0.0.1', port: b.port }, (err) => {
          if (!err) sent++;
        });
        scratch.fill(0x21); // overwritten before the socket has sent it
      }
      await all;
      for (let i = 0; i < count; i++) assert.ok(received.has(`datagram ${i}`.padEnd(64, '.')), `datagram ${i} arrived intact`);
      assert.equal(sent, count, 'every send reported');
    } finally {
      a.close();
      b.close();
    }
  });
}

test('v4-mapped IPv6 senders are reported as IPv4 endpoints', () => {
  assert.deepEqual(endpointFromRemote({ family: 'IPv6', address: '::ffff:192.0.2.7', port: 51820, size: 1 }), {
    family: 4,
    address: '192.0.2.7',
    port: 51820,
  });
  assert.deepEqual(endpointFromRemote({ family: 'IPv6', address: '2001:db8::1', port: 1, size: 1 }), {
    family: 6,
    address: '2001:db8::1',
    port: 1,
  });
  assert.deepEqual(endpointFromRemote({ family: 'IPv4', address: '10.0.0.1', port: 2, size: 1 }), {
    family: 4,
    address: '10.0.0.1',
    port: 2,
  });
});

test('module: a datagram the kernel refuses is reported to its sender alone; the others leave', { skip: typeof moduleOrWhyNot === 'string' ? moduleOrWhyNot : false }, async () => {
  const backend = moduleOrWhyNot as Backend;
  const a = await backend.open({ port: 0 });
  const b = await backend.open({ port: 0 });
  try {
    const received: string[] = [];
    b.onDatagram((d) => received.push(Buffer.from(d).toString()));
    const outcomes: string[] = [];
    const report = (name: string): SendCallback => (err, bytes) => outcomes.push(err ? `${name}: ${err.message}` : `${name}: ${bytes}`);
    const to: Endpoint = { family: 4, address: '127.0.0.1', port: b.port };
    a.send(Buffer.from('first'), to, report('first'));
    a.send(Buffer.from('nowhere'), { ...to, port: 0 }, report('nowhere')); // the kernel says EINVAL
    a.send(Buffer.from('third'), to, report('third'));
    for (let i = 0; i < 100 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(outcomes, ['first: 5', 'nowhere: udp: send failed: EINVAL', 'third: 5']);
    assert.deepEqual(received, ['first', 'third']);
  } finally {
    a.close();
    b.close();
  }
});

test('module: a backlog of handshake messages is read in one turn; data keeps to one batch per turn', { skip: typeof moduleOrWhyNot === 'string' ? moduleOrWhyNot : false }, async () => {
  // The device's handshake queue is its "under load" signal, so waiting handshake messages
  // must reach it rather than wait in the socket; data must not hold back the loop's other
  // handles. 100 datagrams wait in the socket before the loop polls it (a child process
  // sends them while this one is blocked); how many arrive before the next turn's
  // setImmediate runs tells the two apart.
  const backend = moduleOrWhyNot as Backend;
  const count = 100;
  for (const [type, expectAll] of [[1, true], [4, false]] as const) {
    const b = await backend.open({ port: 0 });
    try {
      let received = 0;
      let beforeNextTurn = -1;
      b.onDatagram(() => {
        if (received++ === 0) setImmediate(() => (beforeNextTurn = received));
      });
      // Alternating sizes, so the kernel's GRO merges no more than two of them.
      const sender = `const s = require('node:dgram').createSocket('udp4'); let n = 0;
        for (let i = 0; i < ${count}; i++) { const d = Buffer.alloc(i % 2 ? 148 : 92); d[0] = ${type};
          s.send(d, ${b.port}, '127.0.0.1', () => { if (++n === ${count}) s.close(); }); }`;
      const sent = spawnSync(process.execPath, ['-e', sender], { timeout: 10_000 });
      assert.equal(sent.status, 0, String(sent.stderr));
      for (let i = 0; i < 200 && received < count; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(received, count, `type ${type}: every datagram arrived`);
      if (expectAll) assert.equal(beforeNextTurn, count, 'handshake messages: all of them in the first turn');
      else assert.ok(beforeNextTurn > 0 && beforeNextTurn <= 16, `data: one batch in the first turn (${beforeNextTurn})`);
    } finally {
      b.close();
    }
  }
});
