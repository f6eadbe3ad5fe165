/**
 * libubox blob/blobmsg codec. Every expected byte sequence below is derived by
 * hand from the format definition in libubox's blob.h and blobmsg.h:
 *
 *   attribute header (be32): bit 31 extended | bits 30..24 id | bits 23..0 raw length
 *     (raw length = 4-byte header + payload, padding not included)
 *   then the payload, then zero padding up to a multiple of 4 (BLOB_ATTR_ALIGN).
 *   blobmsg attributes are extended; their payload starts with a name header:
 *     be16 name length, the name, NUL, zero padding so that the header is
 *     blobmsg_hdrlen(n) = (2 + n + 1) rounded up to 4 bytes; the value follows.
 *   blobmsg type ids: UNSPEC 0, ARRAY 1, TABLE 2, STRING 3, INT64 4, INT32 5,
 *     INT16 6, INT8/BOOL 7, DOUBLE 8. Integers and doubles are big-endian.
 *   A container's payload is its children's padded encodings back to back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BlobError,
  blobmsgHeaderLength,
  blobmsgToJson,
  bm,
  decodeBlobmsgEntries,
  encodeBlobAttr,
  encodeBlobmsgAttr,
  encodeBlobmsgEntries,
  entriesToJson,
  jsonToEntries,
  padLength,
  parseBlobAttrs,
  uintBytes,
  cString,
  type BlobmsgEntry,
} from '../../src/ubus/blob';

/** "03 00 00 08" → bytes; spaces and line breaks are only for reading. */
function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function show(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

function assertBytes(actual: Uint8Array, expected: string): void {
  assert.equal(show(actual), show(hex(expected)));
}

test('padding and name header lengths follow BLOB_ATTR_ALIGN and blobmsg_hdrlen', () => {
  assert.deepEqual([0, 1, 4, 5, 7, 8, 9].map(padLength), [0, 4, 4, 8, 8, 8, 12]);
  // 2 (length) + n + 1 (NUL), rounded up to 4
  assert.equal(blobmsgHeaderLength(0), 4); // 3 → 4
  assert.equal(blobmsgHeaderLength(1), 4); // 4 exactly, no padding
  assert.equal(blobmsgHeaderLength(2), 8); // 5 → 8
  assert.equal(blobmsgHeaderLength(5), 8); // 8 exactly
  assert.equal(blobmsgHeaderLength(11), 16); // 14 → 16
});

test('plain blob attributes: header, big-endian payload, padding', () => {
  // blob_put_u32(id 3 = UBUS_ATTR_OBJID, 0x12345678): header (3 << 24) | (4 + 4) = 0x03000008,
  // payload 12 34 56 78; 8 bytes is already aligned, so no padding.
  assertBytes(encodeBlobAttr(3, uintBytes(4, 0x12345678)), '03000008 12345678');
  // blob_put_string(id 4 = UBUS_ATTR_METHOD, "status"): payload "status\0" is 7 bytes,
  // raw length 4 + 7 = 11 = 0x0b, header 0x0400000b, one zero byte pads 11 to 12.
  assertBytes(encodeBlobAttr(4, cString('status')), '0400000b 73746174 757300 00');
  // An empty payload is just the header with raw length 4.
  assertBytes(encodeBlobAttr(0, new Uint8Array(0)), '00000004');
  // The extended flag is bit 31: id 2, extended, empty → 0x82000004.
  assertBytes(encodeBlobAttr(2, new Uint8Array(0), true), '82000004');
});

test('blobmsg scalars: every type, named', () => {
  // blobmsg_add_string("a", "b"): type 3 | extended → 0x83. Name header: 00 01 'a' 00 (4 bytes,
  // no padding); value "b\0" (2 bytes). Raw length 4 + 4 + 2 = 10 = 0x0a; 2 bytes pad to 12.
  assertBytes(encodeBlobmsgAttr('a', bm.string('b')), '8300000a 00016100 6200 0000');

  // blobmsg_add_u16("listen_port", 51820): type 6 → 0x86. Name is 11 bytes: header
  // 2 + 11 + 1 = 14 → padded to 16. Value 51820 = 0xca6c. Raw 4 + 16 + 2 = 22 = 0x16; pad 2.
  assertBytes(
    encodeBlobmsgAttr('listen_port', bm.u16(51820)),
    '86000016 000b 6c697374656e5f706f7274 00 0000 ca6c 0000',
  );

  // blobmsg_add_u8("up", 1), i.e. a bool: type 7 → 0x87. Name header 2 + 2 + 1 = 5 → 8.
  // Raw 4 + 8 + 1 = 13 = 0x0d; 3 bytes pad to 16.
  assertBytes(encodeBlobmsgAttr('up', bm.bool(true)), '8700000d 0002 7570 00 000000 01 000000');

  // blobmsg_add_u32("object", 0xdeadbeef): type 5 → 0x85. Name header 2 + 6 + 1 = 9 → 12.
  // Raw 4 + 12 + 4 = 20 = 0x14; aligned.
  assertBytes(encodeBlobmsgAttr('object', bm.u32(0xdeadbeef)), '85000014 0006 6f626a656374 00 000000 deadbeef');

  // blobmsg_add_u64("rx", 0x0102030405060708): type 4 → 0x84. Name header 8. Raw 4 + 8 + 8 = 20.
  assertBytes(encodeBlobmsgAttr('rx', bm.u64(0x0102030405060708n)), '84000014 0002 7278 00 000000 0102030405060708');

  // blobmsg_add_double("d", 1.5): type 8 → 0x88. 1.5 in IEEE 754 binary64 is 0x3ff8000000000000.
  // Name header 4. Raw 4 + 4 + 8 = 16 = 0x10.
  assertBytes(encodeBlobmsgAttr('d', bm.double(1.5)), '88000010 0001 64 00 3ff8000000000000');

  // blobmsg_add_field(UNSPEC, "n", NULL, 0): type 0 → 0x80, name header only. Raw 4 + 4 = 8.
  assertBytes(encodeBlobmsgAttr('n', bm.unspec()), '80000008 0001 6e 00');

  // blobmsg_add_u16("neg", -2): two's complement 0xfffe. Name header 2 + 3 + 1 = 6 → 8.
  // Raw 4 + 8 + 2 = 14 = 0x0e; 2 bytes pad.
  assertBytes(encodeBlobmsgAttr('neg', bm.u16(-2)), '8600000e 0003 6e6567 00 0000 fffe 0000');
});

test('blobmsg containers: tables hold named entries, arrays unnamed ones', () => {
  // Table "t" holding u32 "x" = 1. The entry: 0x85, name header 00 01 'x' 00, value 00000001,
  // raw 4 + 4 + 4 = 12. The table: type 2 → 0x82, name header 00 01 't' 00, then the entry;
  // raw 4 + 4 + 12 = 20 = 0x14.
  assertBytes(
    encodeBlobmsgAttr('t', bm.table({ x: bm.u32(1) })),
    '82000014 0001 74 00   8500000c 0001 78 00 00000001',
  );
  // Array "a" of "p", "q". Each item is an extended string with an empty name: name header
  // 00 00 00 (2 + 0 + 1 = 3) padded to 4, value "p\0", raw 4 + 4 + 2 = 10, padded to 12.
  // The array: type 1 → 0x81, name header 00 01 'a' 00, raw 4 + 4 + 2 × 12 = 32 = 0x20.
  assertBytes(
    encodeBlobmsgAttr('a', bm.array([bm.string('p'), bm.string('q')])),
    '81000020 0001 61 00   8300000a 0000 00 00 7000 0000   8300000a 0000 00 00 7100 0000',
  );
  // An empty table "data": name header 2 + 4 + 1 = 7 → 8, raw 4 + 8 = 12, no children.
  assertBytes(encodeBlobmsgAttr('data', bm.table([])), '8200000c 0004 64617461 00 00');
});

test('decoding reverses encoding for every type, nested', () => {
  const entries: BlobmsgEntry[] = [
    { name: 'wg0', value: bm.table({
      ifindex: bm.u32(7),
      public_key: bm.string('aGVsbG8='),
      listen_port: bm.u16(51820),
      peers: bm.table({
        peer1: bm.table({
          allowed_ips: bm.array([bm.string('10.0.0.2/32'), bm.string('fd00::2/128')]),
          last_handshake: bm.u64(1_700_000_000),
          rx_bytes: bm.u64(2n ** 63n + 5n),
          up: bm.bool(false),
          ratio: bm.double(-0.25),
          blob: bm.unspec(Uint8Array.of(1, 2, 3)),
        }),
      }),
      empty: bm.array([]),
    }) },
    { name: 'ü-名前', value: bm.string('ünïcödé ✓') },
  ];
  const bytes = encodeBlobmsgEntries(entries);
  assert.equal(bytes.length % 4, 0);
  const decoded = decodeBlobmsgEntries(bytes, true);
  assert.deepEqual(decoded, entries);
  // and the same bytes again
  assert.deepEqual(encodeBlobmsgEntries(decoded), bytes);
});

test('JSON views follow blobmsg_format_json and blobmsg_add_json_element', () => {
  const entries = decodeBlobmsgEntries(
    encodeBlobmsgEntries([
      { name: 'port', value: bm.u16(51820) }, // int16 is printed signed: 51820 - 65536
      { name: 'i32', value: bm.u32(0xffffffff) }, // -1
      { name: 'flag', value: bm.u8(1) }, // int8 is a boolean
      { name: 'big', value: bm.u64(123456789012n) },
      { name: 'nothing', value: bm.unspec() },
      { name: 'list', value: bm.array([bm.u32(1), bm.string('x')]) },
    ]),
    true,
  );
  assert.deepEqual(entriesToJson(entries), { port: -13716, i32: -1, flag: true, big: 123456789012, nothing: null, list: [1, 'x'] });
  // int32 when it fits, int64 beyond, double for fractions, int8 for booleans, unspec for null
  const typed = jsonToEntries({ a: 5, b: 2 ** 40, c: 0.5, d: true, e: null, f: { g: ['h'] } });
  assert.deepEqual(typed.map((e) => e.value.type), ['int32', 'int64', 'double', 'int8', 'unspec', 'table']);
  assert.deepEqual(entriesToJson(decodeBlobmsgEntries(encodeBlobmsgEntries(typed), true)), { a: 5, b: 2 ** 40, c: 0.5, d: true, e: null, f: { g: ['h'] } });
  assert.equal(blobmsgToJson(bm.u64(2n ** 64n - 1n)), -1); // int64 is signed too
});

test('malformed blobmsg is rejected with a reason', () => {
  const bad: [string, string, boolean][] = [
    // string "b" without its NUL: raw length 4 + 4 + 1 = 9
    ['8300000900016100 62000000', 'NUL', true],
    // int32 with a 3-byte value: raw 4 + 4 + 3 = 11
    ['8500000b00017800 000001 00', 'needs 4 bytes', true],
    // int64 with 4 bytes
    ['8400000c00017800 00000001', 'needs 8 bytes', true],
    // a table entry whose name length is 0
    ['8500000c00000000 00000001', 'without a name', true],
    // a table entry that is not extended (no name header at all)
    ['05000008 00000001', 'without a name header', true],
    // raw length 0x20 runs past the 12 bytes there are
    ['85000020 00017800 00000001', 'runs past', true],
    // raw length 3 is shorter than the header
    ['85000003 00000000', 'shorter than its header', true],
    // name length 9 claims more than the 4-byte payload holds
    ['85000008 00090000', 'runs past its attribute', true],
    // name not NUL-terminated ("xy" with length 1: the byte after the name is 'y')
    ['8500000c 00017879 00000001', 'not NUL-terminated', true],
    // type 9 does not exist (DOUBLE = 8 is the last)
    ['89000008 00017800', 'unknown blobmsg type 9', true],
    // 2 stray bytes after a complete attribute
    ['80000008 00016e00 0000', 'truncated', true],
  ];
  for (const [bytes, reason, named] of bad) {
    assert.throws(() => decodeBlobmsgEntries(hex(bytes), named), (err: Error) => err instanceof BlobError && err.message.includes(reason), `${bytes}: ${reason}`);
  }
});

test('arrays may hold unextended attributes, as blobmsg_check_attr allows without a name', () => {
  // blob_put_u32(id 5 = INT32, 9) with no name header: 05000008 00000009
  const [item] = decodeBlobmsgEntries(hex('05000008 00000009'), false);
  assert.deepEqual(item, { name: '', value: { type: 'int32', value: 9 } });
});

test('parseBlobAttrs splits a container and checks the last padding', () => {
  // two attributes: id 3 u32 and id 4 "status" (12 bytes with padding)
  const attrs = parseBlobAttrs(hex('03000008 12345678 0400000b 73746174 75730000'));
  assert.deepEqual(attrs.map((a) => [a.id, a.extended, a.payload.length]), [[3, false, 4], [4, false, 7]]);
  // the same string attribute without its padding byte is short of a multiple of 4
  assert.throws(() => parseBlobAttrs(hex('0400000b 73746174 757300')), /padding runs past/);
});

test('encoders refuse values that do not fit', () => {
  assert.throws(() => encodeBlobmsgAttr('x', bm.u16(70000)), BlobError);
  assert.throws(() => encodeBlobmsgAttr('x', bm.u32(2 ** 32)), BlobError);
  assert.throws(() => encodeBlobmsgAttr('x', bm.u8(1.5)), BlobError);
  assert.throws(() => encodeBlobmsgAttr('a\0b', bm.u8(1)), /NUL/);
  assert.throws(() => encodeBlobmsgAttr('x', bm.string('a\0b')), /NUL/);
  assert.throws(() => encodeBlobAttr(128, new Uint8Array(0)), /out of range/);
  assert.throws(() => encodeBlobAttr(1, new Uint8Array(0x1000000)), /24-bit/);
});
