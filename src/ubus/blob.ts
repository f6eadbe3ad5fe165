/**
 * libubox's blob and blobmsg binary encodings (blob.h, blobmsg.h), the wire
 * format of every ubus message.
 *
 * A blob attribute is a 32-bit big-endian header followed by its payload:
 *
 *   bit 31      extended flag (blobmsg: a name header follows)
 *   bits 30..24 id (the attribute type)
 *   bits 23..0  raw length, header included, padding excluded
 *
 * and is followed by zero padding to the next multiple of 4. Containers hold
 * their children's padded encodings back to back, so a container's length
 * always covers whole padded children.
 *
 * blobmsg attributes are always extended: the payload starts with a name
 * header (16-bit big-endian name length, the name, a NUL, zero padding to a
 * multiple of 4) and the value follows. Tables hold named attributes, arrays
 * unnamed ones (name length 0). Integers and doubles are big-endian.
 *
 * Decoded integers are the raw unsigned bits, as blobmsg_get_u8/u16/u32/u64
 * return them; blobmsgToJson shows them signed, as blobmsg_format_json does.
 * Nothing here imports node: it only handles bytes.
 */
import { concatAll } from '../crypto/bytes';

export const BLOB_ATTR = {
  UNSPEC: 0,
  NESTED: 1,
  BINARY: 2,
  STRING: 3,
  INT8: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  DOUBLE: 8,
} as const;

export const BLOB_ATTR_ID_MASK = 0x7f000000;
export const BLOB_ATTR_ID_SHIFT = 24;
export const BLOB_ATTR_LEN_MASK = 0x00ffffff;
export const BLOB_ATTR_EXTENDED = 0x80000000;
export const BLOB_ATTR_ALIGN = 4;
export const BLOB_HEADER_LENGTH = 4;

/** blobmsg types, which are the ids of blobmsg attributes. */
export const BLOBMSG_TYPE = {
  UNSPEC: 0,
  ARRAY: 1,
  TABLE: 2,
  STRING: 3,
  INT64: 4,
  INT32: 5,
  INT16: 6,
  INT8: 7,
  BOOL: 7,
  DOUBLE: 8,
} as const;
export const BLOBMSG_TYPE_LAST = BLOBMSG_TYPE.DOUBLE;

export class BlobError extends Error {
  override readonly name = 'BlobError';
}

/** Length rounded up to the 4-byte attribute alignment (blob_pad_len). */
export function padLength(length: number): number {
  return (length + BLOB_ATTR_ALIGN - 1) & ~(BLOB_ATTR_ALIGN - 1);
}

// ---------------------------------------------------------------------------
// Plain blob attributes

/** One attribute as found in a buffer. `payload` is a view, not a copy. */
export interface BlobAttr {
  id: number;
  extended: boolean;
  payload: Uint8Array;
}

/** Header + payload + zero padding. */
export function encodeBlobAttr(id: number, payload: Uint8Array, extended = false): Uint8Array {
  if (!Number.isInteger(id) || id < 0 || id > 0x7f) throw new BlobError(`blob attribute id ${id} out of range`);
  const rawLength = BLOB_HEADER_LENGTH + payload.length;
  if (rawLength > BLOB_ATTR_LEN_MASK) throw new BlobError(`blob attribute of ${rawLength} bytes exceeds the 24-bit length field`);
  const out = new Uint8Array(padLength(rawLength));
  const header = ((extended ? BLOB_ATTR_EXTENDED : 0) | (id << BLOB_ATTR_ID_SHIFT) | rawLength) >>> 0;
  new DataView(out.buffer).setUint32(0, header);
  out.set(payload, BLOB_HEADER_LENGTH);
  return out;
}

/** Reads the attribute at `offset`; its raw length must fit in `limit` bytes. */
export function readBlobAttr(bytes: Uint8Array, offset = 0, limit = bytes.length - offset): { attr: BlobAttr; rawLength: number } {
  if (limit < BLOB_HEADER_LENGTH || offset + BLOB_HEADER_LENGTH > bytes.length) {
    throw new BlobError('truncated blob attribute header');
  }
  const header = new DataView(bytes.buffer, bytes.byteOffset + offset, BLOB_HEADER_LENGTH).getUint32(0);
  const rawLength = header & BLOB_ATTR_LEN_MASK;
  if (rawLength < BLOB_HEADER_LENGTH) throw new BlobError(`blob attribute length ${rawLength} is shorter than its header`);
  if (rawLength > limit || offset + rawLength > bytes.length) {
    throw new BlobError(`blob attribute length ${rawLength} runs past its container`);
  }
  return {
    attr: {
      id: (header & BLOB_ATTR_ID_MASK) >>> BLOB_ATTR_ID_SHIFT,
      extended: (header & BLOB_ATTR_EXTENDED) !== 0,
      payload: bytes.subarray(offset + BLOB_HEADER_LENGTH, offset + rawLength),
    },
    rawLength,
  };
}

/**
 * Splits a container's payload into its attributes. Stricter than libubox's
 * blob_for_each_attr, which silently stops at the first bad one: here the
 * attributes must account for every byte, or the data is malformed.
 */
export function parseBlobAttrs(payload: Uint8Array): BlobAttr[] {
  const attrs: BlobAttr[] = [];
  let offset = 0;
  while (offset < payload.length) {
    const { attr, rawLength } = readBlobAttr(payload, offset, payload.length - offset);
    const padded = padLength(rawLength);
    if (offset + padded > payload.length) throw new BlobError('blob attribute padding runs past its container');
    attrs.push(attr);
    offset += padded;
  }
  return attrs;
}

/** Fixed-width big-endian payloads, as blob_put_u8/u16/u32/u64 write them. */
export function uintBytes(width: 1 | 2 | 4 | 8, value: number | bigint): Uint8Array {
  const out = new Uint8Array(width);
  const view = new DataView(out.buffer);
  if (width === 8) {
    view.setBigUint64(0, BigInt.asUintN(64, checkedBigInt(value, 64)));
    return out;
  }
  const bits = width * 8;
  const n = Number(value);
  if (!Number.isInteger(n) || n < -(2 ** (bits - 1)) || n >= 2 ** bits) {
    throw new BlobError(`${value} does not fit in ${bits} bits`);
  }
  const raw = n < 0 ? n + 2 ** bits : n;
  if (width === 1) view.setUint8(0, raw);
  else if (width === 2) view.setUint16(0, raw);
  else view.setUint32(0, raw);
  return out;
}

function checkedBigInt(value: number | bigint, bits: number): bigint {
  if (typeof value === 'number' && !Number.isInteger(value)) throw new BlobError(`${value} is not an integer`);
  const big = BigInt(value);
  if (big < -(1n << BigInt(bits - 1)) || big >= 1n << BigInt(bits)) throw new BlobError(`${value} does not fit in ${bits} bits`);
  return big;
}

/** Reads a big-endian unsigned integer of exactly `width` bytes. */
export function readUint(payload: Uint8Array, width: 1 | 2 | 4): number {
  if (payload.length < width) throw new BlobError(`expected ${width} bytes, found ${payload.length}`);
  const view = new DataView(payload.buffer, payload.byteOffset, width);
  return width === 1 ? view.getUint8(0) : width === 2 ? view.getUint16(0) : view.getUint32(0);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A C string: UTF-8 and a terminating NUL (blob_put_string). */
export function cString(text: string): Uint8Array {
  const body = encoder.encode(text);
  if (body.includes(0)) throw new BlobError('strings cannot contain NUL');
  const out = new Uint8Array(body.length + 1);
  out.set(body);
  return out;
}

/** The text of a C string payload, which must be NUL-terminated (blob_check_type). */
export function readCString(payload: Uint8Array): string {
  if (payload.length < 1 || payload[payload.length - 1] !== 0) throw new BlobError('string is not NUL-terminated');
  return decoder.decode(payload.subarray(0, payload.indexOf(0)));
}


// ---------------------------------------------------------------------------
// blobmsg values

export type BlobmsgValue =
  | { type: 'unspec'; bytes: Uint8Array }
  | { type: 'array'; items: BlobmsgValue[] }
  | { type: 'table'; entries: BlobmsgEntry[] }
  | { type: 'string'; value: string }
  | { type: 'int64'; value: bigint }
  | { type: 'int32'; value: number }
  | { type: 'int16'; value: number }
  | { type: 'int8'; value: number }
  | { type: 'double'; value: number };

export interface BlobmsgEntry {
  name: string;
  value: BlobmsgValue;
}

/** Constructors named after libubox's blobmsg_add_* helpers. */
export const bm = {
  string: (value: string): BlobmsgValue => ({ type: 'string', value }),
  u8: (value: number): BlobmsgValue => ({ type: 'int8', value }),
  bool: (value: boolean): BlobmsgValue => ({ type: 'int8', value: value ? 1 : 0 }),
  u16: (value: number): BlobmsgValue => ({ type: 'int16', value }),
  u32: (value: number): BlobmsgValue => ({ type: 'int32', value }),
  u64: (value: number | bigint): BlobmsgValue => ({ type: 'int64', value: BigInt(value) }),
  double: (value: number): BlobmsgValue => ({ type: 'double', value }),
  unspec: (bytes: Uint8Array = new Uint8Array(0)): BlobmsgValue => ({ type: 'unspec', bytes }),
  array: (items: BlobmsgValue[]): BlobmsgValue => ({ type: 'array', items }),
  /** Entries keep their order; undefined values are left out (optional fields). */
  table: (entries: Record<string, BlobmsgValue | undefined> | BlobmsgEntry[]): BlobmsgValue => ({
    type: 'table',
    entries: Array.isArray(entries)
      ? entries
      : Object.entries(entries).flatMap(([name, value]) => (value ? [{ name, value }] : [])),
  }),
};

const TYPE_IDS: Record<BlobmsgValue['type'], number> = {
  unspec: BLOBMSG_TYPE.UNSPEC,
  array: BLOBMSG_TYPE.ARRAY,
  table: BLOBMSG_TYPE.TABLE,
  string: BLOBMSG_TYPE.STRING,
  int64: BLOBMSG_TYPE.INT64,
  int32: BLOBMSG_TYPE.INT32,
  int16: BLOBMSG_TYPE.INT16,
  int8: BLOBMSG_TYPE.INT8,
  double: BLOBMSG_TYPE.DOUBLE,
};

/** Size of the name header: 16-bit length, name, NUL, padded (blobmsg_hdrlen). */
export function blobmsgHeaderLength(nameBytes: number): number {
  return padLength(2 + nameBytes + 1);
}

/** The value's payload, without the attribute or name header. */
function valuePayload(value: BlobmsgValue): Uint8Array {
  switch (value.type) {
    case 'unspec':
      return value.bytes;
    case 'array':
      return concatAll(value.items.map((item) => encodeBlobmsgAttr('', item)));
    case 'table':
      return encodeBlobmsgEntries(value.entries);
    case 'string':
      return cString(value.value);
    case 'int64':
      return uintBytes(8, value.value);
    case 'int32':
      return uintBytes(4, value.value);
    case 'int16':
      return uintBytes(2, value.value);
    case 'int8':
      return uintBytes(1, value.value);
    case 'double': {
      const out = new Uint8Array(8);
      new DataView(out.buffer).setFloat64(0, value.value);
      return out;
    }
  }
}

/** One named (or, in arrays, unnamed: '') blobmsg attribute, padded. */
export function encodeBlobmsgAttr(name: string, value: BlobmsgValue): Uint8Array {
  const nameBytes = encoder.encode(name);
  if (nameBytes.includes(0)) throw new BlobError('blobmsg names cannot contain NUL');
  if (nameBytes.length > 0xffff) throw new BlobError('blobmsg name longer than 65535 bytes');
  const headerLength = blobmsgHeaderLength(nameBytes.length);
  const payload = valuePayload(value);
  const body = new Uint8Array(headerLength + payload.length);
  new DataView(body.buffer).setUint16(0, nameBytes.length);
  body.set(nameBytes, 2);
  body.set(payload, headerLength);
  return encodeBlobAttr(TYPE_IDS[value.type], body, true);
}

/** The content of a table: what blobmsg_buf_init + blobmsg_add_* leave in blob_data(b.head). */
export function encodeBlobmsgEntries(entries: readonly BlobmsgEntry[]): Uint8Array {
  return concatAll(entries.map((e) => encodeBlobmsgAttr(e.name, e.value)));
}

/** Exact payload sizes of the fixed-width types (blob_check_type). */
const FIXED_WIDTH: Partial<Record<number, number>> = {
  [BLOBMSG_TYPE.INT8]: 1,
  [BLOBMSG_TYPE.INT16]: 2,
  [BLOBMSG_TYPE.INT32]: 4,
  [BLOBMSG_TYPE.INT64]: 8,
  [BLOBMSG_TYPE.DOUBLE]: 8,
};

/**
 * Decodes one blobmsg attribute with blobmsg_check_attr's rules: a name is
 * required in tables, the name header must fit and be NUL-terminated, the type
 * must be known and fixed-width values exactly sized.
 */
export function decodeBlobmsgAttr(attr: BlobAttr, named: boolean): BlobmsgEntry {
  let name = '';
  let data = attr.payload;
  if (attr.extended) {
    if (attr.payload.length < 2) throw new BlobError('blobmsg name header truncated');
    const nameLength = readUint(attr.payload, 2);
    if (named && nameLength === 0) throw new BlobError('table entry without a name');
    const headerLength = blobmsgHeaderLength(nameLength);
    if (attr.payload.length < headerLength) throw new BlobError('blobmsg name runs past its attribute');
    if (attr.payload[2 + nameLength] !== 0) throw new BlobError('blobmsg name is not NUL-terminated');
    name = decoder.decode(attr.payload.subarray(2, 2 + nameLength));
    data = attr.payload.subarray(headerLength);
  } else if (named) {
    throw new BlobError('table entry without a name header');
  }
  if (attr.id > BLOBMSG_TYPE_LAST) throw new BlobError(`unknown blobmsg type ${attr.id}`);
  const width = FIXED_WIDTH[attr.id];
  if (width !== undefined && data.length !== width) {
    throw new BlobError(`blobmsg type ${attr.id} needs ${width} bytes, found ${data.length}`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  let value: BlobmsgValue;
  switch (attr.id) {
    case BLOBMSG_TYPE.UNSPEC:
      value = { type: 'unspec', bytes: data };
      break;
    case BLOBMSG_TYPE.ARRAY:
      value = { type: 'array', items: decodeBlobmsgEntries(data, false).map((e) => e.value) };
      break;
    case BLOBMSG_TYPE.TABLE:
      value = { type: 'table', entries: decodeBlobmsgEntries(data, true) };
      break;
    case BLOBMSG_TYPE.STRING:
      value = { type: 'string', value: readCString(data) };
      break;
    case BLOBMSG_TYPE.INT64:
      value = { type: 'int64', value: view.getBigUint64(0) };
      break;
    case BLOBMSG_TYPE.INT32:
      value = { type: 'int32', value: view.getUint32(0) };
      break;
    case BLOBMSG_TYPE.INT16:
      value = { type: 'int16', value: view.getUint16(0) };
      break;
    case BLOBMSG_TYPE.INT8:
      value = { type: 'int8', value: view.getUint8(0) };
      break;
    default:
      value = { type: 'double', value: view.getFloat64(0) };
  }
  return { name, value };
}

/** Decodes the content of a table (named) or an array (unnamed). */
export function decodeBlobmsgEntries(payload: Uint8Array, named: boolean): BlobmsgEntry[] {
  return parseBlobAttrs(payload).map((attr) => decodeBlobmsgAttr(attr, named));
}

// ---------------------------------------------------------------------------
// JSON views, as the ubus CLI and rpcd show blobmsg

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * blobmsg_format_json's view of a value: int8 is a boolean, the other
 * integers are signed (so an int16 listen port above 32767 shows negative, as
 * it does with `ubus call`), int64 beyond 2^53 loses precision, unspec is null.
 */
export function blobmsgToJson(value: BlobmsgValue): Json {
  switch (value.type) {
    case 'unspec':
      return null;
    case 'array':
      return value.items.map(blobmsgToJson);
    case 'table':
      return entriesToJson(value.entries);
    case 'string':
      return value.value;
    case 'int64':
      return Number(BigInt.asIntN(64, value.value));
    case 'int32':
      return value.value | 0;
    case 'int16':
      return (value.value << 16) >> 16;
    case 'int8':
      return value.value !== 0;
    case 'double':
      return value.value;
  }
}

/** A table's entries as a JSON object (later duplicates win, as in JSON parsers). */
export function entriesToJson(entries: readonly BlobmsgEntry[]): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const e of entries) out[e.name] = blobmsgToJson(e.value);
  return out;
}

/**
 * blobmsg_add_json_element's typing of JSON: integers that fit int32 become
 * int32, other integers int64, fractions double, booleans int8, null unspec.
 */
export function jsonToBlobmsg(json: Json): BlobmsgValue {
  if (json === null) return bm.unspec();
  if (typeof json === 'boolean') return bm.bool(json);
  if (typeof json === 'string') return bm.string(json);
  if (typeof json === 'number') {
    if (!Number.isInteger(json)) return bm.double(json);
    return json >= -(2 ** 31) && json < 2 ** 31 ? bm.u32(json) : bm.u64(BigInt(json));
  }
  if (Array.isArray(json)) return bm.array(json.map(jsonToBlobmsg));
  return bm.table(jsonToEntries(json));
}

export function jsonToEntries(json: { [key: string]: Json }): BlobmsgEntry[] {
  return Object.entries(json).map(([name, value]) => ({ name, value: jsonToBlobmsg(value) }));
}
