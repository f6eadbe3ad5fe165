/**
 * wgts-tun's TUN offloads (src/platform/node/tun-offload.c): splitting the TCP
 * super-packets the kernel reads out, merging runs of received segments into one. The C
 * code runs in a small harness (tun-offload-harness.c) built here with the system
 * compiler; packets are built and checksums verified by this file's own TypeScript, so
 * the C checksum code is checked against an independent one. The kernel side (the TUN
 * really handing over and accepting super-packets) is test/integration/pipe-tun.test.ts.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repo = path.resolve(__dirname, '../../..');
const source = (f: string) => path.join(repo, f);
let harness = '';

before(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-offload-'));
  harness = path.join(dir, 'tun-offload-harness');
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', harness,
    source('test/unit/tun-offload-harness.c'), source('src/platform/node/tun-offload.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `the harness compiles without warnings\n${cc.stderr}`);
});

// -------------------------------------------------------------------------- packets

const TCP = { FIN: 0x01, SYN: 0x02, PSH: 0x08, ACK: 0x10, CWR: 0x80 };
const TIMESTAMPS = Buffer.from([1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]);

interface Segment {
  v6?: boolean;
  seq: number;
  payload: number | Buffer;
  flags?: number;
  id?: number;
  options?: Buffer;
  window?: number;
  sport?: number;
  tos?: number;
  df?: boolean;
  /** Spoil the TCP checksum. */
  damaged?: boolean;
}

function sum(...parts: Buffer[]): number {
  let acc = 0;
  for (const b of parts) {
    for (let i = 0; i + 1 < b.length; i += 2) acc += b.readUInt16BE(i);
    if (b.length % 2) acc += b[b.length - 1]! << 8;
  }
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

function pseudoHeader(ip: Buffer, v6: boolean, length: number, protocol = 6): Buffer {
  const tail = Buffer.alloc(v6 ? 8 : 4);
  if (v6) {
    tail.writeUInt32BE(length, 0);
    tail[7] = protocol;
  } else {
    tail[1] = protocol;
    tail.writeUInt16BE(length, 2);
  }
  return Buffer.concat([v6 ? ip.subarray(8, 40) : ip.subarray(12, 20), tail]);
}

/** True if the packet's transport checksum (TCP or UDP at `offset`) verifies. */
function transportChecksumValid(p: Buffer, v6: boolean, protocol = 6): boolean {
  const offset = v6 ? 40 : 20;
  return sum(pseudoHeader(p, v6, p.length - offset, protocol), p.subarray(offset)) === 0xffff;
}

function payloadBytes(seq: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seq + i * 7) & 0xff;
  return b;
}

function tcpPacket(s: Segment): Buffer {
  const v6 = s.v6 ?? false;
  const payload = typeof s.payload === 'number' ? payloadBytes(s.seq, s.payload) : s.payload;
  const options = s.options ?? TIMESTAMPS;
  const tcp = Buffer.alloc(20 + options.length);
  tcp.writeUInt16BE(s.sport ?? 40000, 0);
  tcp.writeUInt16BE(5201, 2);
  tcp.writeUInt32BE(s.seq >>> 0, 4);
  tcp.writeUInt32BE(123456, 8);
  tcp[12] = ((20 + options.length) / 4) << 4;
  tcp[13] = s.flags ?? TCP.ACK;
  tcp.writeUInt16BE(s.window ?? 502, 14);
  options.copy(tcp, 20);
  let ip: Buffer;
  if (v6) {
    ip = Buffer.alloc(40);
    ip.writeUInt32BE(0x60000000 | ((s.tos ?? 0) << 20), 0);
    ip.writeUInt16BE(tcp.length + payload.length, 4);
    ip[6] = 6;
    ip[7] = 64;
    Buffer.from('fd000000000000000000000000000001fd000000000000000000000000000002', 'hex').copy(ip, 8);
  } else {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip[1] = s.tos ?? 0;
    ip.writeUInt16BE(20 + tcp.length + payload.length, 2);
    ip.writeUInt16BE(s.id ?? 1, 4);
    ip.writeUInt16BE(s.df === false ? 0 : 0x4000, 6);
    ip[8] = 64;
    ip[9] = 6;
    Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]).copy(ip, 12);
    ip.writeUInt16BE(~sum(ip) & 0xffff, 10);
  }
  const check = ~sum(pseudoHeader(ip, v6, tcp.length + payload.length), tcp, payload) & 0xffff;
  tcp.writeUInt16BE(s.damaged ? check ^ 0x5555 : check, 16);
  return Buffer.concat([ip, tcp, payload]);
}

/** A run of segments as one sender would send them: consecutive sequence numbers and IDs. */
function flow(sizes: number[], common: Partial<Segment> = {}, seq = 1000, id = 100): Segment[] {
  return sizes.map((n, i) => {
    const s = { ...common, seq, payload: n, id: id + i };
    seq += n;
    return s;
  });
}

// -------------------------------------------------------------------------- harness

interface VirtioHeader { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number }

// struct virtio_net_hdr in host order (legacy TUN without TUNSETVNETLE/BE).
const le = os.endianness() === 'LE';
const u16 = (b: Buffer, at: number) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at));

function encodeHeader(h: Partial<VirtioHeader>): Buffer {
  const b = Buffer.alloc(10);
  b[0] = h.flags ?? 0;
  b[1] = h.gsoType ?? 0;
  const put = (v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  put(h.hdrLen ?? 0, 2);
  put(h.gsoSize ?? 0, 4);
  put(h.csumStart ?? 0, 6);
  put(h.csumOffset ?? 0, 8);
  return b;
}

function run(mode: string, input: Buffer): Buffer {
  const r = spawnSync(harness, [mode], { input });
  assert.equal(r.status, 0, `harness ${mode} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function split(header: Partial<VirtioHeader>, packet: Buffer): Buffer[] {
  const out = run('split', Buffer.concat([encodeHeader(header), packet]));
  const frames: Buffer[] = [];
  for (let at = 0; at < out.length;) {
    const n = out.readUInt16BE(at);
    frames.push(out.subarray(at + 2, at + 2 + n));
    at += 2 + n;
  }
  return frames;
}

interface Write { header: VirtioHeader; packet: Buffer }

function coalesce(packets: Buffer[]): Write[] {
  const input = Buffer.concat(packets.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 0xff]), p]));
  const out = run('coalesce', input);
  const writes: Write[] = [];
  for (let at = 0; at < out.length;) {
    const n = out.readUInt32BE(at);
    const h = out.subarray(at + 4, at + 14);
    writes.push({
      header: { flags: h[0]!, gsoType: h[1]!, hdrLen: u16(h, 2), gsoSize: u16(h, 4), csumStart: u16(h, 6), csumOffset: u16(h, 8) },
      packet: out.subarray(at + 14, at + 14 + n),
    });
    at += 14 + n;
  }
  return writes;
}

const VIRTIO = { NEEDS_CSUM: 1, GSO_NONE: 0, GSO_TCPV4: 1, GSO_UDP: 3, GSO_TCPV6: 4, GSO_ECN: 0x80 };

/** What the kernel would make of the writes: each super-packet split back (by our own split). */
function segmentsOf(writes: Write[]): Buffer[] {
  return writes.flatMap((w) => (w.header.gsoType === VIRTIO.GSO_NONE ? [w.packet] : split(w.header, w.packet)));
}

// -------------------------------------------------------------------------- merging

for (const v6 of [false, true]) {
  test(`a run of IPv${v6 ? 6 : 4} segments becomes one super-packet that splits back into the same segments`, () => {
    const segments = flow([1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 500], { v6 });
    segments[9]!.flags = TCP.ACK | TCP.PSH;
    const packets = segments.map(tcpPacket);
    const writes = coalesce(packets);
    assert.equal(writes.length, 1);
    const [{ header, packet }] = writes as [Write];
    const ipLen = v6 ? 40 : 20;
    assert.deepEqual(header, {
      flags: VIRTIO.NEEDS_CSUM, gsoType: v6 ? VIRTIO.GSO_TCPV6 : VIRTIO.GSO_TCPV4,
      hdrLen: ipLen + 32, gsoSize: 1000, csumStart: ipLen, csumOffset: 16,
    });
    assert.equal(packet.length, ipLen + 32 + 9500);
    if (v6) {
      assert.equal(packet.readUInt16BE(4), 32 + 9500, 'IPv6 payload length');
    } else {
      assert.equal(packet.readUInt16BE(2), packet.length, 'IPv4 total length');
      assert.equal(sum(packet.subarray(0, 20)), 0xffff, 'IPv4 header checksum');
    }
    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, the kernel adds the rest.
    assert.equal(packet.readUInt16BE(ipLen + 16), sum(pseudoHeader(packet, v6, packet.length - ipLen)));
    assert.equal(packet[ipLen + 13], TCP.ACK | TCP.PSH, 'the last segment\'s PSH');
    assert.deepEqual(packet.subarray(ipLen + 32), Buffer.concat(packets.map((p) => p.subarray(ipLen + 32))));
    const back = split(header, packet);
    assert.equal(back.length, 10);
    back.forEach((p, i) => {
      assert.ok(transportChecksumValid(p, v6), `segment ${i}: checksum`);
      assert.deepEqual(p, packets[i], `segment ${i} byte for byte`);
    });
  });
}

test('runs end where the kernel\'s GRO would end them; nothing is lost, reordered or changed', () => {
  const base = (sizes: number[], common: Partial<Segment> = {}, seq?: number) => flow(sizes, common, seq);
  const cases: Array<{ name: string; segments: Segment[]; runs: number[] }> = [
    { name: 'a gap in sequence numbers', segments: [...base([1000, 1000]), ...base([1000], {}, 5000)], runs: [2, 1] },
    { name: 'a short segment ends the run', segments: base([1000, 500, 1000]), runs: [2, 1] },
    { name: 'PSH ends the run', segments: base([1000, 1000, 1000]).map((s, i) => (i === 1 ? { ...s, flags: TCP.ACK | TCP.PSH } : s)), runs: [2, 1] },
    { name: 'a longer segment than the first', segments: base([500, 1000]), runs: [1, 1] },
    { name: 'different TCP options (timestamps)', segments: base([1000, 1000]).map((s, i) => (i === 1 ? { ...s, options: Buffer.from([1, 1, 8, 10, 0, 0, 0, 8, 0, 0, 0, 9]) } : s)), runs: [1, 1] },
    { name: 'a different window', segments: base([1000, 1000]).map((s, i) => (i === 1 ? { ...s, window: 600 } : s)), runs: [1, 1] },
    { name: 'an ECN mark on one', segments: base([1000, 1000]).map((s, i) => (i === 1 ? { ...s, tos: 3 } : s)), runs: [1, 1] },
    { name: 'a damaged TCP checksum', segments: base([1000, 1000, 1000, 1000]).map((s, i) => (i === 1 ? { ...s, damaged: true } : s)), runs: [1, 1, 2] },
    { name: 'SYN and FIN are never merged', segments: base([1000, 1000, 1000]).map((s, i) => (i === 0 ? { ...s, flags: TCP.SYN | TCP.ACK } : i === 2 ? { ...s, flags: TCP.FIN | TCP.ACK } : s)), runs: [1, 1, 1] },
    { name: 'IPv4 without DF', segments: base([1000, 1000], { df: false }), runs: [1, 1] },
    { name: 'two flows interleaved', segments: [base([1000])[0]!, { ...base([1000])[0]!, sport: 40001 }, { ...base([1000, 1000])[1]! }], runs: [1, 1, 1] },
    { name: 'no more than 64 KB', segments: base(new Array(70).fill(1000)), runs: [65, 5] },
    { name: 'empty ACKs', segments: [0, 0, 0].map(() => ({ seq: 1000, payload: 0 })), runs: [1, 1, 1] },
  ];
  for (const c of cases) {
    const packets = c.segments.map(tcpPacket);
    const writes = coalesce(packets);
    const runs = writes.map((w) => (w.header.gsoType === VIRTIO.GSO_NONE ? 1 : Math.ceil((w.packet.length - w.header.hdrLen) / w.header.gsoSize)));
    assert.deepEqual(runs, c.runs, c.name);
    for (const w of writes) if (w.header.gsoType === VIRTIO.GSO_NONE) assert.deepEqual(w.header, encodeHeaderFields(0), `${c.name}: a lone packet goes with an empty header`);
    assert.deepEqual(segmentsOf(writes), packets, `${c.name}: the same packets, in order`);
  }
  // Not TCP at all: a UDP datagram ends a run and passes untouched.
  const udp = Buffer.from(tcpPacket({ seq: 0, payload: 100 }));
  udp[9] = 17;
  const packets = [...flow([1000, 1000]).map(tcpPacket), udp, ...flow([1000], {}, 3000).map(tcpPacket)];
  const writes = coalesce(packets);
  assert.equal(writes.length, 3);
  assert.deepEqual(segmentsOf(writes), packets);
});

function encodeHeaderFields(flags: number): VirtioHeader {
  return { flags, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

// -------------------------------------------------------------------------- splitting

test('splitting: CWR stays on the first segment, FIN and PSH go to the last, IDs and sequence numbers advance', () => {
  for (const v6 of [false, true]) {
    const ipLen = v6 ? 40 : 20;
    const superPacket = tcpPacket({ v6, seq: 0xfffffc00, payload: 3500, id: 0xfffe, flags: TCP.ACK | TCP.CWR | TCP.PSH | TCP.FIN });
    const segments = split({ flags: VIRTIO.NEEDS_CSUM, gsoType: (v6 ? VIRTIO.GSO_TCPV6 : VIRTIO.GSO_TCPV4) | VIRTIO.GSO_ECN, hdrLen: ipLen + 32, gsoSize: 1200, csumStart: ipLen, csumOffset: 16 }, superPacket);
    assert.deepEqual(segments.map((s) => s.length - ipLen - 32), [1200, 1200, 1100]);
    assert.deepEqual(segments.map((s) => s[ipLen + 13]), [TCP.ACK | TCP.CWR, TCP.ACK, TCP.ACK | TCP.PSH | TCP.FIN]);
    assert.deepEqual(segments.map((s) => s.readUInt32BE(ipLen + 4)), [0xfffffc00, (0xfffffc00 + 1200) >>> 0, (0xfffffc00 + 2400) >>> 0], 'sequence numbers wrap');
    if (!v6) {
      assert.deepEqual(segments.map((s) => s.readUInt16BE(4)), [0xfffe, 0xffff, 0], 'IDs wrap');
      for (const s of segments) assert.equal(sum(s.subarray(0, 20)), 0xffff);
    }
    for (const s of segments) assert.ok(transportChecksumValid(s, v6));
    assert.deepEqual(Buffer.concat(segments.map((s) => s.subarray(ipLen + 32))), superPacket.subarray(ipLen + 32));
  }
});

test('the largest IPv6 super-packet (65,535 bytes after its header) splits whole', () => {
  const superPacket = tcpPacket({ v6: true, seq: 1, payload: 65_535 - 32 });
  assert.equal(superPacket.length, 65_575);
  const segments = split({ flags: VIRTIO.NEEDS_CSUM, gsoType: VIRTIO.GSO_TCPV6, hdrLen: 72, gsoSize: 1348, csumStart: 40, csumOffset: 16 }, superPacket);
  assert.equal(segments.length, Math.ceil((65_535 - 32) / 1348));
  for (const s of segments) assert.ok(transportChecksumValid(s, true));
  assert.deepEqual(Buffer.concat(segments.map((s) => s.subarray(72))), superPacket.subarray(72));
});

test('a packet whose checksum the kernel left partial gets it completed (UDP and TCP)', () => {
  const udp = Buffer.alloc(20 + 8 + 333);
  udp[0] = 0x45;
  udp.writeUInt16BE(udp.length, 2);
  udp[8] = 64;
  udp[9] = 17;
  Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]).copy(udp, 12);
  udp.writeUInt16BE(53, 20);
  udp.writeUInt16BE(5353, 22);
  udp.writeUInt16BE(8 + 333, 24);
  payloadBytes(3, 333).copy(udp, 28);
  udp.writeUInt16BE(sum(pseudoHeader(udp, false, 8 + 333, 17)), 26);
  const [done] = split({ flags: VIRTIO.NEEDS_CSUM, csumStart: 20, csumOffset: 6 }, udp);
  assert.ok(done && transportChecksumValid(done, false, 17), 'UDP checksum completed');
  assert.deepEqual(done.subarray(28), udp.subarray(28));

  const tcp = tcpPacket({ v6: true, seq: 5, payload: 77 });
  tcp.writeUInt16BE(sum(pseudoHeader(tcp, true, tcp.length - 40)), 56);
  const [fixed] = split({ flags: VIRTIO.NEEDS_CSUM, csumStart: 40, csumOffset: 16 }, tcp);
  assert.deepEqual(fixed, tcpPacket({ v6: true, seq: 5, payload: 77 }));

  const plain = tcpPacket({ seq: 9, payload: 10 });
  assert.deepEqual(split({}, plain), [plain], 'no offload: passed as it is');
});

test('malformed offload requests are dropped, not passed on', () => {
  const p = tcpPacket({ seq: 0, payload: 3000 });
  const tso = { flags: VIRTIO.NEEDS_CSUM, gsoType: VIRTIO.GSO_TCPV4, hdrLen: 52, gsoSize: 1000, csumStart: 20, csumOffset: 16 };
  assert.equal(split(tso, p).length, 3, 'the well-formed request splits');
  const dropped: Array<[string, Partial<VirtioHeader>, Buffer]> = [
    ['checksum start past the end', { flags: VIRTIO.NEEDS_CSUM, csumStart: p.length, csumOffset: 16 }, p],
    ['checksum field past the end', { flags: VIRTIO.NEEDS_CSUM, csumStart: p.length - 2, csumOffset: 16 }, p],
    ['UDP fragmentation offload, never enabled', { ...tso, gsoType: VIRTIO.GSO_UDP }, p],
    ['segment size 0', { ...tso, gsoSize: 0 }, p],
    ['TSO without a checksum offset', { ...tso, flags: 0 }, p],
    ['TCP header not where IPv4 says', { ...tso, csumStart: 24 }, p],
    ['IPv6 type for an IPv4 packet', { ...tso, gsoType: VIRTIO.GSO_TCPV6 }, p],
    ['headers only', tso, p.subarray(0, 52)],
    ['longer than any IP packet can be', tso, Buffer.concat([p, Buffer.alloc(65_576 - p.length)])],
    ['too long for a frame, without segmentation', {}, Buffer.concat([p, Buffer.alloc(65_536 - p.length)])],
  ];
  for (const [name, header, packet] of dropped) assert.deepEqual(split(header, packet), [], name);
});
