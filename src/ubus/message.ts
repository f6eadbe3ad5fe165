/**
 * ubus messages as ubusmsg.h defines them: an 8-byte header
 *
 *   u8 version (0) | u8 type | be16 seq | be32 peer
 *
 * followed by one blob attribute (id 0) whose payload is a list of ubus
 * attributes (UBUS_ATTR_*). Method arguments and replies travel inside
 * UBUS_ATTR_DATA as blobmsg table content. Nothing here imports node.
 */
import {
  BLOB_HEADER_LENGTH,
  BlobError,
  cString,
  encodeBlobAttr,
  padLength,
  parseBlobAttrs,
  readBlobAttr,
  readCString,
  readUint,
  uintBytes,
  type BlobAttr,
} from './blob';
import { concatAll } from '../crypto/bytes';

/** enum ubus_msg_type */
export const UBUS_MSG = {
  HELLO: 0,
  STATUS: 1,
  DATA: 2,
  PING: 3,
  LOOKUP: 4,
  INVOKE: 5,
  ADD_OBJECT: 6,
  REMOVE_OBJECT: 7,
  SUBSCRIBE: 8,
  UNSUBSCRIBE: 9,
  NOTIFY: 10,
  MONITOR: 11,
} as const;
export const UBUS_MSG_LAST = 12;

/** enum ubus_msg_attr */
export const UBUS_ATTR = {
  UNSPEC: 0,
  STATUS: 1,
  OBJPATH: 2,
  OBJID: 3,
  METHOD: 4,
  OBJTYPE: 5,
  SIGNATURE: 6,
  DATA: 7,
  TARGET: 8,
  ACTIVE: 9,
  NO_REPLY: 10,
  SUBSCRIBERS: 11,
  USER: 12,
  GROUP: 13,
} as const;
export const UBUS_ATTR_MAX = 14;

/** enum ubus_msg_status */
export const UBUS_STATUS = {
  OK: 0,
  INVALID_COMMAND: 1,
  INVALID_ARGUMENT: 2,
  METHOD_NOT_FOUND: 3,
  NOT_FOUND: 4,
  NO_DATA: 5,
  PERMISSION_DENIED: 6,
  TIMEOUT: 7,
  NOT_SUPPORTED: 8,
  UNKNOWN_ERROR: 9,
  CONNECTION_FAILED: 10,
  NO_MEMORY: 11,
  PARSE_ERROR: 12,
  SYSTEM_ERROR: 13,
} as const;

/** ubus_strerror's texts, so errors read the same as from the ubus CLI. */
const STATUS_TEXT = [
  'Success',
  'Invalid command',
  'Invalid argument',
  'Method not found',
  'Not found',
  'No response',
  'Permission denied',
  'Request timed out',
  'Operation not supported',
  'Unknown error',
  'Connection failed',
  'Out of memory',
  'Parsing message data failed',
  'System error',
];

export function ubusStatusText(status: number): string {
  return STATUS_TEXT[status] ?? `Unknown error: ${status}`;
}

/** Objects ubusd implements itself; client-allocated ids are never below UBUS_SYSTEM_OBJECT_MAX. */
export const UBUS_SYSTEM_OBJECT = { EVENT: 1, ACL: 2, MONITOR: 3 } as const;
export const UBUS_SYSTEM_OBJECT_MAX = 1024;
/** Peer id of a channel (socketpair) connection; real clients get ids above it. */
export const UBUS_CLIENT_ID_CHANNEL = 1;

export const UBUS_MSG_HEADER_LENGTH = 8;
/** CMake's UBUS_MAX_MSGLEN: ubusd and libubus refuse bigger messages. */
export const UBUS_MAX_MSGLEN = 1048576;
export const UBUS_DEFAULT_SOCKET = '/var/run/ubus/ubus.sock';

export class UbusFrameError extends Error {
  override readonly name = 'UbusFrameError';
}

export interface UbusHeader {
  version: number;
  type: number;
  /** 16-bit request sequence number. */
  seq: number;
  /** 32-bit peer: a client id or an object id, depending on the message. */
  peer: number;
}

/** The attributes ubusd and libubus understand, typed by their blob_attr_info policies. */
export interface UbusAttrs {
  status?: number;
  objpath?: string;
  objid?: number;
  method?: string;
  objtype?: number;
  /** Payload of the nested SIGNATURE attribute: one blobmsg table per method. */
  signature?: Uint8Array;
  /** Payload of DATA: blobmsg table content. */
  data?: Uint8Array;
  target?: number;
  active?: boolean;
  noReply?: boolean;
  subscribers?: number[];
  user?: string;
  group?: string;
}

export interface UbusMessage {
  header: UbusHeader;
  attrs: UbusAttrs;
}

// ---------------------------------------------------------------------------
// Encoding

/** Encoded ubus attributes, in the order blob_put_* would add them. */
export const ubusAttr = {
  int32: (id: number, value: number): Uint8Array => encodeBlobAttr(id, uintBytes(4, value)),
  int8: (id: number, value: number): Uint8Array => encodeBlobAttr(id, uintBytes(1, value)),
  string: (id: number, value: string): Uint8Array => encodeBlobAttr(id, cString(value)),
  /** blob_nest_start/blob_put(…, UBUS_ATTR_DATA, content): a plain blob around blobmsg content. */
  nested: (id: number, content: Uint8Array): Uint8Array => encodeBlobAttr(id, content),
};

/** Header + the id-0 blob holding `attrs` (already encoded, see ubusAttr). */
export function encodeUbusMessage(header: Omit<UbusHeader, 'version'>, attrs: readonly Uint8Array[]): Uint8Array {
  const body = encodeBlobAttr(0, concatAll(attrs));
  if (padLength(body.length) > UBUS_MAX_MSGLEN) throw new UbusFrameError(`message of ${body.length} bytes exceeds UBUS_MAX_MSGLEN`);
  const out = new Uint8Array(UBUS_MSG_HEADER_LENGTH + body.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, 0);
  view.setUint8(1, header.type);
  view.setUint16(2, header.seq & 0xffff);
  view.setUint32(4, header.peer >>> 0);
  out.set(body, UBUS_MSG_HEADER_LENGTH);
  return out;
}

// ---------------------------------------------------------------------------
// Decoding

export function decodeUbusHeader(bytes: Uint8Array): UbusHeader {
  if (bytes.length < UBUS_MSG_HEADER_LENGTH) throw new UbusFrameError('truncated ubus header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, UBUS_MSG_HEADER_LENGTH);
  return { version: view.getUint8(0), type: view.getUint8(1), seq: view.getUint16(2), peer: view.getUint32(4) };
}

/**
 * How many bytes the frame starting at `bytes` occupies, once its first 12
 * bytes (header + blob header) are there; undefined before that. Applies
 * ubus_validate_hdr: version 0, a blob at least a header long, and no bigger
 * than `maxLength` once padded.
 */
export function frameLength(bytes: Uint8Array, maxLength = UBUS_MAX_MSGLEN): number | undefined {
  if (bytes.length < UBUS_MSG_HEADER_LENGTH + BLOB_HEADER_LENGTH) return undefined;
  if (bytes[0] !== 0) throw new UbusFrameError(`unsupported ubus message version ${bytes[0]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + UBUS_MSG_HEADER_LENGTH, BLOB_HEADER_LENGTH);
  const rawLength = view.getUint32(0) & 0x00ffffff;
  if (rawLength < BLOB_HEADER_LENGTH) throw new UbusFrameError(`ubus message blob length ${rawLength} is shorter than its header`);
  if (padLength(rawLength) > maxLength) throw new UbusFrameError(`ubus message of ${rawLength} bytes exceeds the ${maxLength}-byte limit`);
  return UBUS_MSG_HEADER_LENGTH + rawLength;
}

/** Decodes one complete frame; structural damage throws UbusFrameError. */
export function decodeUbusMessage(frame: Uint8Array, maxLength = UBUS_MAX_MSGLEN): UbusMessage {
  const length = frameLength(frame, maxLength);
  if (length === undefined || length !== frame.length) throw new UbusFrameError('ubus frame length does not match its blob');
  const header = decodeUbusHeader(frame);
  let attrs: BlobAttr[];
  try {
    const { attr } = readBlobAttr(frame, UBUS_MSG_HEADER_LENGTH);
    attrs = parseBlobAttrs(attr.payload);
  } catch (err) {
    if (err instanceof BlobError) throw new UbusFrameError(`malformed ubus message: ${err.message}`);
    throw err;
  }
  return { header, attrs: typedAttrs(attrs) };
}

/**
 * blob_parse_untrusted with the ubus policies: an attribute of the wrong type
 * is ignored (as if absent), a repeated one replaces the earlier one.
 */
function typedAttrs(list: readonly BlobAttr[]): UbusAttrs {
  const attrs: UbusAttrs = {};
  for (const { id, payload } of list) {
    switch (id) {
      case UBUS_ATTR.STATUS:
        if (payload.length === 4) attrs.status = readUint(payload, 4);
        break;
      case UBUS_ATTR.OBJPATH:
        if (isCString(payload)) attrs.objpath = readCString(payload);
        break;
      case UBUS_ATTR.OBJID:
        if (payload.length === 4) attrs.objid = readUint(payload, 4);
        break;
      case UBUS_ATTR.METHOD:
        if (isCString(payload)) attrs.method = readCString(payload);
        break;
      case UBUS_ATTR.OBJTYPE:
        if (payload.length === 4) attrs.objtype = readUint(payload, 4);
        break;
      case UBUS_ATTR.SIGNATURE:
        attrs.signature = payload;
        break;
      case UBUS_ATTR.DATA:
        attrs.data = payload;
        break;
      case UBUS_ATTR.TARGET:
        if (payload.length >= 4) attrs.target = readUint(payload, 4);
        break;
      case UBUS_ATTR.ACTIVE:
        if (payload.length === 1) attrs.active = payload[0] !== 0;
        break;
      case UBUS_ATTR.NO_REPLY:
        if (payload.length === 1) attrs.noReply = payload[0] !== 0;
        break;
      case UBUS_ATTR.SUBSCRIBERS:
        attrs.subscribers = subscriberIds(payload);
        break;
      case UBUS_ATTR.USER:
        if (isCString(payload)) attrs.user = readCString(payload);
        break;
      case UBUS_ATTR.GROUP:
        if (isCString(payload)) attrs.group = readCString(payload);
        break;
      default:
        break; // unknown attributes are skipped, as blob_parse does past `max`
    }
  }
  return attrs;
}

function isCString(payload: Uint8Array): boolean {
  return payload.length >= 1 && payload[payload.length - 1] === 0;
}

/** The int32 entries of a SUBSCRIBERS list (others skipped, as libubus does). */
function subscriberIds(payload: Uint8Array): number[] {
  try {
    return parseBlobAttrs(payload)
      .filter((a) => a.payload.length === 4)
      .map((a) => readUint(a.payload, 4));
  } catch {
    return [];
  }
}

/**
 * Cuts a byte stream into frames. A frame that breaks the header rules throws
 * UbusFrameError: the stream cannot be resynchronised after that, so the
 * connection has to go.
 */
export class UbusFrameReader {
  private buffer: Uint8Array = new Uint8Array(0);

  constructor(private readonly maxLength = UBUS_MAX_MSGLEN) {}

  push(chunk: Uint8Array): Uint8Array[] {
    this.buffer = this.buffer.length === 0 ? chunk : concatAll([this.buffer, chunk]);
    const frames: Uint8Array[] = [];
    for (;;) {
      const length = frameLength(this.buffer, this.maxLength);
      if (length === undefined || this.buffer.length < length) break;
      frames.push(this.buffer.slice(0, length));
      this.buffer = this.buffer.subarray(length);
    }
    return frames;
  }

  /** Bytes waiting for the rest of their frame. */
  get pending(): number {
    return this.buffer.length;
  }
}
