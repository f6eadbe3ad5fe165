/**
 * ubus message framing (ubusmsg.h). Expected bytes are derived by hand:
 *
 *   struct ubus_msghdr { u8 version = 0; u8 type; be16 seq; be32 peer; }
 *   then one blob attribute with id 0 (blob_buf_init(&b, 0)) whose payload is
 *   the message's ubus attributes (UBUS_ATTR_*), each a plain (not extended)
 *   blob attribute: be32 (id << 24 | 4 + payload length), payload, zero padding
 *   to 4 bytes. UBUS_ATTR_DATA carries blobmsg table content.
 *
 * Type numbers: HELLO 0, STATUS 1, DATA 2, PING 3, LOOKUP 4, INVOKE 5,
 * ADD_OBJECT 6, REMOVE_OBJECT 7, SUBSCRIBE 8, UNSUBSCRIBE 9, NOTIFY 10, MONITOR 11.
 * Attribute ids: STATUS 1, OBJPATH 2, OBJID 3, METHOD 4, OBJTYPE 5, SIGNATURE 6,
 * DATA 7, TARGET 8, ACTIVE 9, NO_REPLY 10, SUBSCRIBERS 11, USER 12, GROUP 13.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bm, decodeBlobmsgEntries, encodeBlobmsgEntries } from '../../src/ubus/blob';
import {
  decodeUbusMessage,
  encodeUbusMessage,
  frameLength,
  UBUS_ATTR,
  UBUS_MAX_MSGLEN,
  UBUS_MSG,
  UBUS_STATUS,
  ubusAttr,
  UbusFrameError,
  UbusFrameReader,
  ubusStatusText,
} from '../../src/ubus/message';

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.replace(/\s+/g, '').match(/../g) ?? [], (b) => parseInt(b, 16));
}

function show(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

test('constants are ubusmsg.h\'s enums', () => {
  assert.deepEqual(
    [UBUS_MSG.HELLO, UBUS_MSG.STATUS, UBUS_MSG.DATA, UBUS_MSG.PING, UBUS_MSG.LOOKUP, UBUS_MSG.INVOKE, UBUS_MSG.ADD_OBJECT,
      UBUS_MSG.REMOVE_OBJECT, UBUS_MSG.SUBSCRIBE, UBUS_MSG.UNSUBSCRIBE, UBUS_MSG.NOTIFY, UBUS_MSG.MONITOR],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
  );
  assert.deepEqual(
    [UBUS_ATTR.STATUS, UBUS_ATTR.OBJPATH, UBUS_ATTR.OBJID, UBUS_ATTR.METHOD, UBUS_ATTR.OBJTYPE, UBUS_ATTR.SIGNATURE, UBUS_ATTR.DATA,
      UBUS_ATTR.TARGET, UBUS_ATTR.ACTIVE, UBUS_ATTR.NO_REPLY, UBUS_ATTR.SUBSCRIBERS, UBUS_ATTR.USER, UBUS_ATTR.GROUP],
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
  );
  assert.equal(UBUS_STATUS.METHOD_NOT_FOUND, 3);
  assert.equal(UBUS_STATUS.SYSTEM_ERROR, 13);
  assert.equal(ubusStatusText(UBUS_STATUS.NOT_FOUND), 'Not found');
  assert.equal(ubusStatusText(42), 'Unknown error: 42');
});

test('HELLO, as ubusd sends it to a new client', () => {
  // type 0, seq 0, peer = the client's id (here 0x1234abcd); an empty id-0 blob: raw length 4.
  const bytes = encodeUbusMessage({ type: UBUS_MSG.HELLO, seq: 0, peer: 0x1234abcd }, []);
  assert.equal(show(bytes), show(hex('00 00 0000 1234abcd   00000004')));
  const decoded = decodeUbusMessage(bytes);
  assert.deepEqual(decoded.header, { version: 0, type: 0, seq: 0, peer: 0x1234abcd });
  assert.deepEqual(decoded.attrs, {});
});

test('LOOKUP of one path', () => {
  // type 4, seq 1, peer 0. OBJPATH (2) "wgts\0": raw 4 + 5 = 9 → 0x02000009, 3 bytes padding.
  // The id-0 blob around it: raw 4 + 12 = 16 = 0x10.
  const bytes = encodeUbusMessage({ type: UBUS_MSG.LOOKUP, seq: 1, peer: 0 }, [ubusAttr.string(UBUS_ATTR.OBJPATH, 'wgts')]);
  assert.equal(show(bytes), show(hex('00 04 0001 00000000   00000010   02000009 77677473 00 000000')));
  assert.deepEqual(decodeUbusMessage(bytes).attrs, { objpath: 'wgts' });
});

test('STATUS reply', () => {
  // type 1, seq 5, peer 0x00000400. STATUS (1) int32 0: 0x01000008 00000000; OBJID (3) 0x400.
  // Blob: 4 + 8 + 8 = 20 = 0x14.
  const bytes = encodeUbusMessage({ type: UBUS_MSG.STATUS, seq: 5, peer: 0x400 }, [
    ubusAttr.int32(UBUS_ATTR.STATUS, UBUS_STATUS.OK),
    ubusAttr.int32(UBUS_ATTR.OBJID, 0x400),
  ]);
  assert.equal(show(bytes), show(hex('00 01 0005 00000400   00000014   01000008 00000000   03000008 00000400')));
  assert.deepEqual(decodeUbusMessage(bytes).attrs, { status: 0, objid: 0x400 });
});

test('ubus_send_event: INVOKE of the event object (id 1), method "send", data {id, data}', () => {
  // type 5, seq 2, peer 1 (UBUS_SYSTEM_OBJECT_EVENT).
  // OBJID (3) = 1:                 03000008 00000001
  // METHOD (4) "send\0":           04000009 73656e64 00 000000
  // DATA (7) holding blobmsg:
  //   "id": "x"   → 0x83, raw 4 + 8 (name header 2 + 2 + 1 → 8) + 2 = 14, padded to 16
  //   "data": {}  → 0x82, raw 4 + 8 (2 + 4 + 1 → 8) = 12
  //   DATA raw 4 + 16 + 12 = 32 = 0x20
  // Blob: 4 + 8 + 12 + 32 = 56 = 0x38.
  const data = encodeBlobmsgEntries([
    { name: 'id', value: bm.string('x') },
    { name: 'data', value: bm.table([]) },
  ]);
  const bytes = encodeUbusMessage({ type: UBUS_MSG.INVOKE, seq: 2, peer: 1 }, [
    ubusAttr.int32(UBUS_ATTR.OBJID, 1),
    ubusAttr.string(UBUS_ATTR.METHOD, 'send'),
    ubusAttr.nested(UBUS_ATTR.DATA, data),
  ]);
  assert.equal(
    show(bytes),
    show(hex(`00 05 0002 00000001   00000038
      03000008 00000001
      04000009 73656e64 00 000000
      07000020   8300000e 0002 6964 00 000000 7800 0000   8200000c 0004 64617461 00 00`)),
  );
  const decoded = decodeUbusMessage(bytes);
  assert.equal(decoded.attrs.method, 'send');
  assert.deepEqual(decodeBlobmsgEntries(decoded.attrs.data!, true), [
    { name: 'id', value: bm.string('x') },
    { name: 'data', value: bm.table([]) },
  ]);
});

test('typed attributes follow the ubus policies: wrong types are ignored, lists decoded', () => {
  const bytes = encodeUbusMessage({ type: UBUS_MSG.STATUS, seq: 0xffff, peer: 0xfffffffe }, [
    // OBJID with a 2-byte payload is not an INT32: ignored, as blob_parse_untrusted does
    encodeAttr(UBUS_ATTR.OBJID, [0, 1]),
    // SUBSCRIBERS: nested int32 attributes with id 0
    ubusAttr.nested(UBUS_ATTR.SUBSCRIBERS, concat(ubusAttr.int32(0, 0x1111), ubusAttr.int32(0, 0x2222))),
    ubusAttr.int8(UBUS_ATTR.NO_REPLY, 1),
    ubusAttr.int8(UBUS_ATTR.ACTIVE, 0),
    ubusAttr.string(UBUS_ATTR.USER, 'root'),
    ubusAttr.int32(UBUS_ATTR.TARGET, 77),
    // an id past UBUS_ATTR_MAX is skipped
    encodeAttr(40, [1, 2, 3, 4]),
    // METHOD without its NUL is not a string: ignored
    encodeAttr(UBUS_ATTR.METHOD, [0x61]),
  ]);
  const { header, attrs } = decodeUbusMessage(bytes);
  assert.deepEqual(header, { version: 0, type: 1, seq: 0xffff, peer: 0xfffffffe });
  assert.deepEqual(attrs, { subscribers: [0x1111, 0x2222], noReply: true, active: false, user: 'root', target: 77 });
});

test('sequence numbers are 16 bits on the wire', () => {
  const bytes = encodeUbusMessage({ type: UBUS_MSG.PING, seq: 0x10002, peer: 0 }, []);
  assert.equal(decodeUbusMessage(bytes).header.seq, 2);
});

test('frame reader reassembles frames split anywhere and several per chunk', () => {
  const a = encodeUbusMessage({ type: UBUS_MSG.LOOKUP, seq: 1, peer: 0 }, [ubusAttr.string(UBUS_ATTR.OBJPATH, 'wgts')]);
  const b = encodeUbusMessage({ type: UBUS_MSG.STATUS, seq: 1, peer: 0 }, [ubusAttr.int32(UBUS_ATTR.STATUS, 4)]);
  const stream = concat(a, b, a);
  const reader = new UbusFrameReader();
  const frames: Uint8Array[] = [];
  for (const byte of stream) frames.push(...reader.push(Uint8Array.of(byte)));
  assert.deepEqual(frames.map(show), [a, b, a].map(show));
  assert.equal(reader.pending, 0);
  const whole = new UbusFrameReader().push(stream);
  assert.deepEqual(whole.map(show), [a, b, a].map(show));
});

test('malformed and oversized frames are refused from their first 12 bytes', () => {
  // version 1
  assert.throws(() => new UbusFrameReader().push(hex('01 00 0000 00000000 00000004')), /version 1/);
  // blob raw length 3 < its own header
  assert.throws(() => new UbusFrameReader().push(hex('00 00 0000 00000000 00000003')), /shorter than its header/);
  // raw length 0x100001 pads to 0x100004 > UBUS_MAX_MSGLEN (1048576): refused before any body arrives
  assert.throws(() => new UbusFrameReader().push(hex('00 02 0000 00000000 00100001')), /exceeds/);
  // exactly UBUS_MAX_MSGLEN is allowed (ubus_validate_hdr uses >)
  assert.equal(frameLength(hex('00 02 0000 00000000 00100000')), 8 + UBUS_MAX_MSGLEN);
  // a smaller limit applies when given
  assert.throws(() => frameLength(hex('00 02 0000 00000000 00000100'), 64), UbusFrameError);
  // inner attribute claims more than the blob holds
  assert.throws(() => decodeUbusMessage(hex('00 02 0000 00000000 0000000c 03000010 00000001')), UbusFrameError);
  // frame longer than its blob
  assert.throws(() => decodeUbusMessage(hex('00 02 0000 00000000 00000004 00000000')), /does not match/);
});

function encodeAttr(id: number, payload: number[]): Uint8Array {
  const raw = 4 + payload.length;
  const out = new Uint8Array((raw + 3) & ~3);
  new DataView(out.buffer).setUint32(0, (id << 24) | raw);
  out.set(payload, 4);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
