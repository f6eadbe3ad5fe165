import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { test } from 'node:test';
import type { Endpoint, UdpTransport } from '../../src/platform/types';
import { endpointFromRemote, openUdpTransport, rebind } from '../../src/platform/node/udp';

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

test('two transports exchange datagrams over IPv4 and report the sender as family 4', async () => {
  const a = await openUdpTransport({ port: 0 });
  const b = await openUdpTransport({ port: 0 });
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

test('the IPv6 socket listens on the same port and replies go out over IPv6', async (t) => {
  if (!(await hasIpv6Loopback())) {
    t.skip('no IPv6 loopback on this host');
    return;
  }
  const a = await openUdpTransport({ port: 0 });
  const b = await openUdpTransport({ port: 0 });
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

test('an explicit port is used for both families and a second bind of it fails', async () => {
  const first = await openUdpTransport({ port: 0 });
  const port = first.port;
  first.close();
  const transport = await openUdpTransport({ port });
  try {
    assert.equal(transport.port, port);
    await assert.rejects(openUdpTransport({ port }), { code: 'EADDRINUSE' });
  } finally {
    transport.close();
  }
});

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

test('rebind moves to a new port, keeps the handler and frees the old port', async () => {
  const sender = await openUdpTransport({ port: 0 });
  const old = await openUdpTransport({ port: 0 });
  const oldPort = old.port;
  const seen: string[] = [];
  old.onDatagram((d) => seen.push(Buffer.from(d).toString()));
  try {
    const moved = await rebind(old, { port: 0 });
    try {
      assert.notEqual(moved.port, oldPort);
      sender.send(new TextEncoder().encode('after rebind'), { family: 4, address: '127.0.0.1', port: moved.port });
      for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(seen, ['after rebind']);
      // The old port is free again.
      const reuse = await openUdpTransport({ port: oldPort });
      reuse.close();
    } finally {
      moved.close();
    }
  } finally {
    sender.close();
  }
});

test('send after close is a no-op, not an exception', async () => {
  const transport = await openUdpTransport({ port: 0 });
  transport.close();
  transport.close();
  transport.send(new Uint8Array([1]), { family: 4, address: '127.0.0.1', port: 9 });
});

test('the caller may reuse its buffer as soon as send returns', async () => {
  const a = await openUdpTransport({ port: 0 });
  const b = await openUdpTransport({ port: 0 });
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
