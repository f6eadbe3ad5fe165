import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AllowedIps } from '../../src/device/allowed-ips';
import { formatCidr, parseCidr, parseIp, type Cidr, type IpFamily } from '../../src/device/ip';

interface Peer {
  readonly name: string;
}
const peer = (name: string): Peer => ({ name });

function lookupText<T>(table: AllowedIps<T>, address: string): T | undefined {
  const ip = parseIp(address);
  assert.ok(ip, `test address ${address} must parse`);
  return table.lookup(ip);
}

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function masked(bytes: Uint8Array, prefixLength: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const keep = Math.min(8, Math.max(0, prefixLength - 8 * i));
    out[i] = out[i]! & ((0xff00 >> keep) & 0xff);
  }
  return out;
}

function randomBytes(next: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
  return out;
}

const keyOf = (bytes: Uint8Array, len: number): string => `${Buffer.from(bytes).toString('hex')}/${len}`;

/** Reference: one hash map per prefix length, probed from longest to shortest. */
class ReferenceTable<T> {
  private readonly byKey = new Map<string, T>();
  insert(c: Cidr, v: T): void {
    this.byKey.set(`${c.family}:${keyOf(c.bytes, c.prefixLength)}`, v);
  }
  remove(c: Cidr): boolean {
    return this.byKey.delete(`${c.family}:${keyOf(c.bytes, c.prefixLength)}`);
  }
  removeValue(v: T): void {
    for (const [k, value] of this.byKey) if (value === v) this.byKey.delete(k);
  }
  get size(): number {
    return this.byKey.size;
  }
  lookup(family: IpFamily, addr: Uint8Array): T | undefined {
    for (let len = family === 4 ? 32 : 128; len >= 0; len--) {
      const v = this.byKey.get(`${family}:${keyOf(masked(addr, len), len)}`);
      if (v !== undefined) return v;
    }
    return undefined;
  }
}

/** Reference of the simplest kind: scan every prefix, keep the longest that matches. */
function linearLongestMatch<T>(entries: Array<[Cidr, T]>, family: IpFamily, addr: Uint8Array): T | undefined {
  let best: [Cidr, T] | undefined;
  for (const entry of entries) {
    const [c] = entry;
    if (c.family !== family) continue;
    if (keyOf(masked(addr, c.prefixLength), 0) !== keyOf(c.bytes, 0)) continue;
    if (best === undefined || c.prefixLength > best[0].prefixLength) best = entry;
  }
  return best?.[1];
}

function randomPrefix(next: () => number, family: IpFamily, base?: Cidr): Cidr {
  const n = family === 4 ? 4 : 16;
  const max = n * 8;
  const bytes = randomBytes(next, n);
  let prefixLength = Math.floor(next() * (max + 1));
  if (base !== undefined) {
    // Extend an existing prefix so the trie gets deep, shared paths.
    for (let i = 0; i < n; i++) {
      const keep = Math.min(8, Math.max(0, base.prefixLength - 8 * i));
      const m = (0xff00 >> keep) & 0xff;
      bytes[i] = (base.bytes[i]! & m) | (bytes[i]! & ~m & 0xff);
    }
    prefixLength = base.prefixLength + Math.floor(next() * (max - base.prefixLength + 1));
  }
  return { family, bytes: masked(bytes, prefixLength), prefixLength };
}

/** An address inside `c` (random host bits), or fully random half the time. */
function probeAddress(next: () => number, family: IpFamily, near: Cidr | undefined): Uint8Array {
  const n = family === 4 ? 4 : 16;
  const addr = randomBytes(next, n);
  if (near === undefined || next() < 0.3) return addr;
  for (let i = 0; i < n; i++) {
    const keep = Math.min(8, Math.max(0, near.prefixLength - 8 * i));
    const m = (0xff00 >> keep) & 0xff;
    addr[i] = (near.bytes[i]! & m) | (addr[i]! & ~m & 0xff);
  }
  return addr;
}

interface NodeView {
  child0: NodeView | null;
  child1: NodeView | null;
  parent: NodeView | null;
  hasValue: boolean;
  bits: number;
}

/** Walks the trie's internals and checks the invariants stated in allowed-ips.ts. */
function checkInvariants(table: AllowedIps<unknown>): void {
  const internals = table as unknown as { root4: NodeView | null; root6: NodeView | null };
  let valued = 0;
  const walk = (node: NodeView, parent: NodeView | null): void => {
    assert.equal(node.parent, parent, 'parent pointer');
    if (parent !== null) assert.ok(node.bits > parent.bits, 'children have longer prefixes');
    if (node.hasValue) valued++;
    else assert.ok(node.child0 !== null && node.child1 !== null, `valueless node /${node.bits} must branch`);
    if (node.child0) walk(node.child0, node);
    if (node.child1) walk(node.child1, node);
  };
  if (internals.root4) walk(internals.root4, null);
  if (internals.root6) walk(internals.root6, null);
  assert.equal(valued, table.size, 'size counts valued nodes');
}

test('longest prefix wins, per family', () => {
  const a = peer('a');
  const b = peer('b');
  const c = peer('c');
  const t = new AllowedIps<Peer>();
  t.insert(parseCidr('192.168.4.0/24'), a);
  t.insert(parseCidr('192.168.4.4/32'), b);
  t.insert(parseCidr('192.168.0.0/16'), c);
  t.insert(parseCidr('2001:db8::/32'), a);
  t.insert(parseCidr('2001:db8:1::/48'), b);
  assert.equal(lookupText(t, '192.168.4.20'), a);
  assert.equal(lookupText(t, '192.168.4.4'), b);
  assert.equal(lookupText(t, '192.168.5.1'), c);
  assert.equal(lookupText(t, '192.169.0.1'), undefined);
  assert.equal(lookupText(t, '2001:db8:1::5'), b);
  assert.equal(lookupText(t, '2001:db8:2::5'), a);
  assert.equal(lookupText(t, '2001:db9::'), undefined);
  // The families are separate tables: a v4-mapped address is not an IPv4 address.
  assert.equal(lookupText(t, '::ffff:192.168.4.4'), undefined);
  assert.equal(t.size, 5);
  checkInvariants(t);
});

test('default routes and host routes', () => {
  const a = peer('a');
  const b = peer('b');
  const t = new AllowedIps<Peer>();
  t.insert(parseCidr('0.0.0.0/0'), a);
  t.insert(parseCidr('::/0'), b);
  assert.equal(lookupText(t, '8.8.8.8'), a);
  assert.equal(lookupText(t, '0.0.0.0'), a);
  assert.equal(lookupText(t, '255.255.255.255'), a);
  assert.equal(lookupText(t, '::'), b);
  assert.equal(lookupText(t, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), b);
  t.insert(parseCidr('255.255.255.255/32'), b);
  t.insert(parseCidr('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128'), a);
  assert.equal(lookupText(t, '255.255.255.255'), b);
  assert.equal(lookupText(t, '255.255.255.254'), a);
  assert.equal(lookupText(t, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), a);
  assert.equal(lookupText(t, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe'), b);
  checkInvariants(t);
});

test('lookupV4/lookupV6 read the address at an offset inside a packet', () => {
  const a = peer('a');
  const b = peer('b');
  const t = new AllowedIps<Peer>();
  t.insert(parseCidr('10.1.0.0/16'), a);
  t.insert(parseCidr('fd00::/8'), b);
  const v4 = new Uint8Array(20);
  v4.set([10, 1, 2, 3], 16); // IPv4 destination field
  assert.equal(t.lookupV4(v4, 16), a);
  assert.equal(t.lookupV4(v4, 12), undefined); // source field is 0.0.0.0
  const v6 = new Uint8Array(40);
  v6.set(parseIp('fd12::1')!.bytes, 24); // IPv6 destination field
  assert.equal(t.lookupV6(v6, 24), b);
  assert.equal(t.lookupV6(v6, 8), undefined);
});

test('inserting an existing prefix moves it to the new value', () => {
  const a = peer('a');
  const b = peer('b');
  const t = new AllowedIps<Peer>();
  t.insert(parseCidr('10.0.0.0/8'), a);
  t.insert(parseCidr('10.1.0.0/16'), a);
  t.insert(parseCidr('10.0.0.0/8'), b);
  assert.equal(t.size, 2);
  assert.equal(lookupText(t, '10.2.0.1'), b);
  assert.equal(lookupText(t, '10.1.0.1'), a);
  assert.deepEqual(t.prefixesOf(a).map(formatCidr), ['10.1.0.0/16']);
  assert.deepEqual(t.prefixesOf(b).map(formatCidr), ['10.0.0.0/8']);
  t.insert(parseCidr('10.0.0.0/8'), b); // same value again: no change
  assert.equal(t.size, 2);
  checkInvariants(t);
});

test('host bits of a non-canonical prefix are ignored', () => {
  const a = peer('a');
  const t = new AllowedIps<Peer>();
  t.insert({ family: 4, bytes: new Uint8Array([10, 9, 8, 7]), prefixLength: 16 }, a);
  assert.deepEqual(t.prefixesOf(a).map(formatCidr), ['10.9.0.0/16']);
  assert.equal(lookupText(t, '10.9.200.1'), a);
  assert.throws(() => t.insert({ family: 4, bytes: new Uint8Array(16), prefixLength: 8 }, a));
  assert.throws(() => t.insert({ family: 6, bytes: new Uint8Array(16), prefixLength: 129 }, a));
});

test('remove takes out exactly one prefix', () => {
  const a = peer('a');
  const b = peer('b');
  const t = new AllowedIps<Peer>();
  t.insert(parseCidr('10.0.0.0/8'), a);
  t.insert(parseCidr('10.1.0.0/16'), b);
  t.insert(parseCidr('10.2.0.0/16'), b); // forces a valueless branch node at 10.0.0.0/14
  assert.equal(t.remove(parseCidr('10.0.0.0/14')), false, 'a branch point is not a stored prefix');
  assert.equal(t.remove(parseCidr('10.1.0.0/24')), false);
  assert.equal(t.remove(parseCidr('10.1.0.0/16')), true);
  assert.equal(t.remove(parseCidr('10.1.0.0/16')), false);
  assert.equal(lookupText(t, '10.1.0.1'), a);
  assert.equal(lookupText(t, '10.2.0.1'), b);
  assert.equal(t.size, 2);
  checkInvariants(t);
  assert.equal(t.remove(parseCidr('10.0.0.0/8')), true);
  assert.equal(lookupText(t, '10.1.0.1'), undefined);
  assert.equal(lookupText(t, '10.2.0.1'), b);
  assert.equal(t.remove(parseCidr('10.2.0.0/16')), true);
  assert.equal(t.size, 0);
  assert.equal(lookupText(t, '10.2.0.1'), undefined);
  assert.equal(t.remove(parseCidr('::/0')), false);
  checkInvariants(t);
});

test('removeValue drops every prefix of one value only', () => {
  const a = peer('a');
  const b = peer('b');
  const t = new AllowedIps<Peer>();
  for (const c of ['10.0.0.0/8', '10.1.0.0/16', '192.168.0.0/24', 'fd00::/8', '::/0']) t.insert(parseCidr(c), a);
  for (const c of ['10.1.2.0/24', '192.168.0.128/25', 'fd00:1::/32']) t.insert(parseCidr(c), b);
  t.removeValue(a);
  assert.equal(t.size, 3);
  assert.deepEqual(t.prefixesOf(a), []);
  assert.equal(lookupText(t, '10.1.2.3'), b);
  assert.equal(lookupText(t, '10.1.3.3'), undefined);
  assert.equal(lookupText(t, '192.168.0.200'), b);
  assert.equal(lookupText(t, '192.168.0.1'), undefined);
  assert.equal(lookupText(t, 'fd00:1::1'), b);
  assert.equal(lookupText(t, '2001::1'), undefined);
  checkInvariants(t);
  t.removeValue(a); // no-op
  t.removeValue(b);
  assert.equal(t.size, 0);
  checkInvariants(t);
  // A removed peer must not stay reachable from the table (it would leak).
  assert.equal((t as unknown as { nodesByValue: Map<Peer, unknown> }).nodesByValue.size, 0);
});

test('prefixesOf is ordered v4 first, then by address, then by length', () => {
  const a = peer('a');
  const t = new AllowedIps<Peer>();
  const inOrder = ['10.0.0.0/8', '10.0.0.0/16', '10.0.0.128/25', '192.168.1.0/24', '::/0', '2001:db8::/32', 'fd00::1/128'];
  for (const c of [...inOrder].reverse()) t.insert(parseCidr(c), a);
  assert.deepEqual(t.prefixesOf(a).map(formatCidr), inOrder);
  assert.deepEqual(t.prefixesOf(peer('nobody')), []);
});

test('clear empties both families', () => {
  const a = peer('a');
  const t = new AllowedIps<Peer>();
  t.insert(parseCidr('1.2.3.4/32'), a);
  t.insert(parseCidr('::1/128'), a);
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(lookupText(t, '1.2.3.4'), undefined);
  assert.equal(lookupText(t, '::1'), undefined);
  assert.deepEqual(t.prefixesOf(a), []);
  t.insert(parseCidr('1.2.3.4/32'), a);
  assert.equal(lookupText(t, '1.2.3.4'), a);
});

test('random inserts and removals agree with a linear-scan reference', () => {
  const next = rng(7);
  const peers = Array.from({ length: 8 }, (_, i) => peer(`p${i}`));
  const t = new AllowedIps<Peer>();
  let entries: Array<[Cidr, Peer]> = [];
  const sameCidr = (x: Cidr, y: Cidr): boolean =>
    x.family === y.family && x.prefixLength === y.prefixLength && keyOf(x.bytes, 0) === keyOf(y.bytes, 0);

  for (let round = 0; round < 3000; round++) {
    const family: IpFamily = next() < 0.5 ? 4 : 6;
    const sameFamily = entries.filter(([c]) => c.family === family);
    const base = sameFamily.length > 0 && next() < 0.6 ? sameFamily[Math.floor(next() * sameFamily.length)]![0] : undefined;
    const r = next();
    if (r < 0.65) {
      const c = randomPrefix(next, family, base);
      const v = peers[Math.floor(next() * peers.length)]!;
      t.insert(c, v);
      entries = entries.filter(([e]) => !sameCidr(e, c));
      entries.push([c, v]);
    } else if (r < 0.9) {
      const c = base ?? randomPrefix(next, family);
      const expected = entries.some(([e]) => sameCidr(e, c));
      assert.equal(t.remove(c), expected, `remove ${formatCidr(c)}`);
      entries = entries.filter(([e]) => !sameCidr(e, c));
    } else if (r < 0.92) {
      const v = peers[Math.floor(next() * peers.length)]!;
      t.removeValue(v);
      entries = entries.filter(([, e]) => e !== v);
    }
    assert.equal(t.size, entries.length);
    for (let probe = 0; probe < 5; probe++) {
      const f: IpFamily = next() < 0.5 ? 4 : 6;
      const near = entries.filter(([c]) => c.family === f);
      const addr = probeAddress(next, f, near.length > 0 ? near[Math.floor(next() * near.length)]![0] : undefined);
      const expected = linearLongestMatch(entries, f, addr);
      const got = f === 4 ? t.lookupV4(addr, 0) : t.lookupV6(addr, 0);
      assert.equal(got, expected, `lookup ${Buffer.from(addr).toString('hex')} at round ${round}`);
    }
    if (round % 100 === 0) checkInvariants(t);
  }
  checkInvariants(t);
  for (const v of peers) {
    const expected = entries.filter(([, e]) => e === v).map(([c]) => formatCidr(c)).sort();
    assert.deepEqual(t.prefixesOf(v).map(formatCidr).sort(), expected);
  }
});

test('130k prefixes for one peer plus 1000 small peers match the reference; removeValue scales', () => {
  const next = rng(20240601);
  const big = peer('big');
  const small = Array.from({ length: 1000 }, (_, i) => peer(`s${i}`));
  const t = new AllowedIps<Peer>();
  const ref = new ReferenceTable<Peer>();
  const bigPrefixes: Cidr[] = [];

  const started = Date.now();
  for (let i = 0; i < 130_000; i++) {
    const family: IpFamily = i % 2 === 0 ? 4 : 6;
    // Mostly real-world-ish lengths, some extending earlier prefixes for depth.
    const base = bigPrefixes.length > 0 && next() < 0.3 ? bigPrefixes[Math.floor(next() * bigPrefixes.length)] : undefined;
    const c = randomPrefix(next, family, base !== undefined && base.family === family ? base : undefined);
    t.insert(c, big);
    ref.insert(c, big);
    bigPrefixes.push(c);
  }
  for (const p of small) {
    for (let j = 0; j < 3; j++) {
      const family: IpFamily = j === 2 ? 6 : 4;
      const base = bigPrefixes[Math.floor(next() * bigPrefixes.length)]!;
      const c = randomPrefix(next, family, base.family === family ? base : undefined);
      t.insert(c, p);
      ref.insert(c, p);
    }
  }
  const insertMs = Date.now() - started;
  assert.equal(t.size, ref.size);
  checkInvariants(t);

  const probes: Array<[IpFamily, Uint8Array]> = [];
  for (let i = 0; i < 20_000; i++) {
    const family: IpFamily = i % 2 === 0 ? 4 : 6;
    // Big prefixes alternate v4, v6: even indexes are IPv4.
    const near = bigPrefixes[2 * Math.floor(next() * (bigPrefixes.length / 2)) + (family === 4 ? 0 : 1)]!;
    probes.push([family, probeAddress(next, family, near)]);
  }
  let hits = 0;
  for (const [family, addr] of probes) {
    const expected = ref.lookup(family, addr);
    if (expected !== undefined) hits++;
    assert.equal(family === 4 ? t.lookupV4(addr, 0) : t.lookupV6(addr, 0), expected);
  }
  assert.ok(hits > probes.length / 2, 'probes mostly land inside stored prefixes');

  const removeStarted = Date.now();
  t.removeValue(big);
  ref.removeValue(big);
  const removeMs = Date.now() - removeStarted;
  assert.equal(t.size, ref.size);
  assert.deepEqual(t.prefixesOf(big), []);
  checkInvariants(t);
  for (const [family, addr] of probes.slice(0, 5000)) {
    assert.equal(family === 4 ? t.lookupV4(addr, 0) : t.lookupV6(addr, 0), ref.lookup(family, addr));
  }
  // Informational only; correctness is what this test asserts.
  console.log(`# allowed-ips: ${t.size + 130_000} inserts in ${insertMs} ms, removeValue(130k) in ${removeMs} ms`);
});
