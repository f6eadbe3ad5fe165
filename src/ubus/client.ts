/**
 * A ubus client over ubusd's UNIX socket, speaking the protocol libubus
 * speaks (libubus.c, libubus-io.c, libubus-obj.c, libubus-req.c):
 *
 * - ubusd greets every connection with HELLO; its peer field is our client id.
 * - Requests (LOOKUP, ADD_OBJECT, INVOKE, …) carry seq = ++request_seq (16 bits,
 *   wrapping) and a peer: 0 for ubusd itself, the object id for an INVOKE.
 *   Answers come back as DATA messages and one final STATUS with the same seq,
 *   and the peer set to the object id answered for (0 for ubusd's own).
 * - An INVOKE of one of our objects arrives with the caller's client id as
 *   peer; we answer DATA (OBJID, DATA) and STATUS (STATUS, OBJID) with that
 *   seq and peer, and ubusd routes them back.
 * - Events are INVOKEs of the event object (id 1), method "send", data
 *   {id, data}; listeners are nameless objects registered with the event
 *   object's "register" method, which ubusd then INVOKEs with the event name.
 *
 * Unlike libubus it never blocks: everything is asynchronous, the connection
 * is (re)established in the background with backoff, and registered objects
 * and listeners are pushed again after every reconnect (ubusd forgets them
 * when it restarts or drops us). A malformed or oversized frame from the bus
 * cannot be resynchronised: it is logged and the connection is re-established.
 */
import * as net from 'node:net';
import type { Logger } from '../platform/node/wg-interface';
import { BlobError, bm, decodeBlobmsgEntries, encodeBlobmsgEntries, type BlobmsgEntry } from './blob';
import {
  decodeUbusMessage,
  encodeUbusMessage,
  UBUS_ATTR,
  UBUS_CLIENT_ID_CHANNEL,
  UBUS_MSG,
  UBUS_STATUS,
  UBUS_SYSTEM_OBJECT,
  ubusAttr,
  UbusFrameReader,
  ubusStatusText,
  type UbusAttrs,
  type UbusMessage,
} from './message';

export interface UbusRequestContext {
  objectName: string;
  method: string;
  /** Client id of the caller. */
  peer: number;
  /** Caller's user and group, when ubusd's ACLs report them. */
  user?: string;
  group?: string;
}

export interface UbusReply {
  /** UBUS_STATUS_*; default OK. */
  status?: number;
  /** Sent as one DATA message before the STATUS. */
  data?: BlobmsgEntry[];
}

export interface UbusMethod {
  /** Argument names and BLOBMSG_TYPE_* types, advertised in the object's signature. */
  policy?: Record<string, number>;
  handler(args: BlobmsgEntry[], context: UbusRequestContext): UbusReply | Promise<UbusReply>;
}

export interface UbusObjectDefinition {
  name: string;
  methods: Record<string, UbusMethod>;
}

export interface UbusObjectInfo {
  path: string;
  id: number;
  typeId: number;
  /** Method name → argument name → BLOBMSG_TYPE_*. */
  signature: Record<string, Record<string, number>>;
}

export interface UbusInvokeResult {
  status: number;
  /** The DATA of each DATA message, decoded as table content. */
  data: BlobmsgEntry[][];
}

export type UbusEventCallback = (type: string, data: BlobmsgEntry[]) => void;

export interface UbusClientOptions {
  socketPath: string;
  log: Logger;
  /** First reconnect delay; doubles up to reconnectMaxMs. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  requestTimeoutMs?: number;
  /** How long ubusd may take to say HELLO. */
  helloTimeoutMs?: number;
  /** Called each time the client is connected and everything is registered again. */
  onReady?: (localId: number) => void;
}

interface PendingRequest {
  data: BlobmsgEntry[][];
  raw: UbusMessage[];
  resolve(result: { status: number; data: BlobmsgEntry[][]; raw: UbusMessage[] }): void;
  timer: NodeJS.Timeout;
}

/** One live connection; a new one after every reconnect, so stale replies go nowhere. */
interface Connection {
  socket: net.Socket;
  reader: UbusFrameReader;
  localId?: number;
  /** Our objects on this connection, by the id ubusd gave them. */
  objects: Map<number, RegisteredObject>;
  ready: boolean;
}

type RegisteredObject =
  | { kind: 'object'; definition: UbusObjectDefinition; id: number; hasSubscribers: boolean }
  /** An event listener or a subscriber: every method called on it is an event. */
  | { kind: 'listener'; pattern: string; callback: UbusEventCallback; id: number };

const DEFAULTS = { reconnectMinMs: 200, reconnectMaxMs: 5000, requestTimeoutMs: 30_000, helloTimeoutMs: 5000 };

export class UbusClient {
  private readonly options: Required<Omit<UbusClientOptions, 'onReady'>> & Pick<UbusClientOptions, 'onReady'>;
  private readonly definitions: UbusObjectDefinition[] = [];
  private readonly listeners: { pattern: string; callback: UbusEventCallback }[] = [];
  private readonly subscriptions: { path: string; callback: UbusEventCallback }[] = [];
  private readonly pending = new Map<string, PendingRequest>();
  private connection: Connection | undefined;
  private requestSeq = 0;
  private reconnectDelay: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Why the last attempt failed, so a long wait for ubusd logs once, not every retry. */
  private lastFailure = '';

  constructor(options: UbusClientOptions) {
    this.options = { ...DEFAULTS, ...options };
    this.reconnectDelay = this.options.reconnectMinMs;
  }

  /** Starts connecting in the background; never throws, never waits. */
  start(): void {
    if (!this.connection && !this.reconnectTimer && !this.closed) this.connect();
  }

  get connected(): boolean {
    return this.connection?.ready ?? false;
  }

  get localId(): number | undefined {
    return this.connection?.localId;
  }

  /** Registers an object now (if connected) and after every reconnect. */
  addObject(definition: UbusObjectDefinition): void {
    this.definitions.push(definition);
    const conn = this.connection;
    if (conn?.ready) void this.registerObject(conn, definition).catch((err: Error) => this.dropConnection(conn, err.message));
  }

  /** The id ubusd gave an object of ours on the current connection. */
  objectId(name: string): number | undefined {
    for (const obj of this.connection?.objects.values() ?? []) {
      if (obj.kind === 'object' && obj.definition.name === name) return obj.id;
    }
    return undefined;
  }

  /** Like `ubus listen PATTERN` (a trailing * matches a prefix); kept across reconnects. */
  async listen(pattern: string, callback: UbusEventCallback): Promise<void> {
    const listener = { pattern, callback };
    this.listeners.push(listener);
    const conn = this.connection;
    if (conn?.ready) await this.registerListener(conn, listener);
  }

  /**
   * Like `ubus subscribe PATH`: a nameless subscriber object (ubus_register_subscriber)
   * and SUBSCRIBE {OBJID, TARGET}; the object's notifications arrive as INVOKEs.
   * Renewed after reconnects while PATH exists then.
   */
  async subscribe(path: string, callback: UbusEventCallback): Promise<void> {
    const subscription = { path, callback };
    this.subscriptions.push(subscription);
    const conn = this.connection;
    if (conn?.ready) await this.registerSubscription(conn, subscription);
  }

  /** LOOKUP: every object, one path, or a prefix ending in '*'. */
  async lookup(path?: string): Promise<UbusObjectInfo[]> {
    const result = await this.request(UBUS_MSG.LOOKUP, 0, path === undefined ? [] : [ubusAttr.string(UBUS_ATTR.OBJPATH, path)]);
    if (result.status !== UBUS_STATUS.OK) throw new UbusStatusError(result.status, `lookup ${path ?? '*'}`);
    return result.raw.flatMap(({ attrs }) => {
      if (attrs.objid === undefined || attrs.objpath === undefined || attrs.objtype === undefined) return [];
      return [{ path: attrs.objpath, id: attrs.objid, typeId: attrs.objtype, signature: parseSignature(attrs.signature) }];
    });
  }

  /** INVOKE object `id`'s method; resolves with the final status and every DATA. */
  async invoke(id: number, method: string, args: BlobmsgEntry[] = [], timeoutMs?: number): Promise<UbusInvokeResult> {
    const result = await this.request(
      UBUS_MSG.INVOKE,
      id,
      [ubusAttr.int32(UBUS_ATTR.OBJID, id), ubusAttr.string(UBUS_ATTR.METHOD, method), ubusAttr.nested(UBUS_ATTR.DATA, encodeBlobmsgEntries(args))],
      timeoutMs,
    );
    return { status: result.status, data: result.data };
  }

  /** `ubus call PATH METHOD`: lookup, then invoke. */
  async call(path: string, method: string, args: BlobmsgEntry[] = []): Promise<UbusInvokeResult> {
    const [object] = await this.lookup(path);
    if (!object) throw new UbusStatusError(UBUS_STATUS.NOT_FOUND, `lookup ${path}`);
    return this.invoke(object.id, method, args);
  }

  /** ubus_send_event: resolves with ubusd's status (CONNECTION_FAILED when not connected). */
  async sendEvent(id: string, data: BlobmsgEntry[]): Promise<number> {
    if (!this.connection?.ready) return UBUS_STATUS.CONNECTION_FAILED;
    const body = encodeBlobmsgEntries([
      { name: 'id', value: bm.string(id) },
      { name: 'data', value: bm.table(data) },
    ]);
    const result = await this.request(UBUS_MSG.INVOKE, UBUS_SYSTEM_OBJECT.EVENT, [
      ubusAttr.int32(UBUS_ATTR.OBJID, UBUS_SYSTEM_OBJECT.EVENT),
      ubusAttr.string(UBUS_ATTR.METHOD, 'send'),
      ubusAttr.nested(UBUS_ATTR.DATA, body),
    ]);
    return result.status;
  }

  /**
   * ubus_notify without waiting for replies (timeout < 0 upstream: NO_REPLY),
   * sent only while ubusd reports subscribers. Returns whether it was sent.
   */
  notify(objectName: string, type: string, data: BlobmsgEntry[]): boolean {
    const conn = this.connection;
    if (!conn?.ready) return false;
    const obj = [...conn.objects.values()].find((o) => o.kind === 'object' && o.definition.name === objectName);
    if (!obj || obj.kind !== 'object' || !obj.hasSubscribers) return false;
    try {
      this.send(conn, UBUS_MSG.NOTIFY, this.nextSeq(), obj.id, [
        ubusAttr.int32(UBUS_ATTR.OBJID, obj.id),
        ubusAttr.string(UBUS_ATTR.METHOD, type),
        ubusAttr.nested(UBUS_ATTR.DATA, encodeBlobmsgEntries(data)),
        ubusAttr.int8(UBUS_ATTR.NO_REPLY, 1),
      ]);
    } catch (err) {
      this.options.log('warn', `ubus: notification ${type} not sent: ${(err as Error).message}`);
      return false;
    }
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const conn = this.connection;
    this.connection = undefined;
    if (conn) {
      conn.socket.destroy();
      this.failPending(UBUS_STATUS.CONNECTION_FAILED);
    }
  }

  // -------------------------------------------------------------------------
  // Connection lifecycle

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.closed) return;
    const socket = net.createConnection(this.options.socketPath);
    const conn: Connection = { socket, reader: new UbusFrameReader(), objects: new Map(), ready: false };
    this.connection = conn;
    const helloTimer = setTimeout(() => this.dropConnection(conn, 'no HELLO from ubusd'), this.options.helloTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      if (this.connection !== conn) return;
      let frames: Uint8Array[];
      try {
        frames = conn.reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      } catch (err) {
        this.dropConnection(conn, `rejected frame from ubusd: ${(err as Error).message}`, 'warn');
        return;
      }
      for (const frame of frames) {
        if (this.connection !== conn) return;
        let message: UbusMessage;
        try {
          message = decodeUbusMessage(frame);
        } catch (err) {
          this.dropConnection(conn, `rejected frame from ubusd: ${(err as Error).message}`, 'warn');
          return;
        }
        if (conn.localId === undefined) {
          clearTimeout(helloTimer);
          this.onHello(conn, message);
        } else {
          this.onMessage(conn, message);
        }
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(helloTimer);
      this.dropConnection(conn, err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? `${this.options.socketPath}: ${err.code}` : err.message);
    });
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.dropConnection(conn, 'connection closed by ubusd');
    });
  }

  private onHello(conn: Connection, message: UbusMessage): void {
    const { type, peer } = message.header;
    if (type !== UBUS_MSG.HELLO || peer <= UBUS_CLIENT_ID_CHANNEL) {
      this.dropConnection(conn, `ubusd did not start with HELLO (type ${type}, peer ${peer})`, 'warn');
      return;
    }
    conn.localId = peer;
    void this.registerAll(conn).then(
      () => {
        if (this.connection !== conn) return;
        conn.ready = true;
        this.reconnectDelay = this.options.reconnectMinMs;
        this.lastFailure = '';
        const names = this.definitions.map((d) => `'${d.name}' @${hex(this.objectId(d.name) ?? 0)}`);
        this.options.log('info', `ubus: connected to ${this.options.socketPath} as client @${hex(peer)}${names.length ? `, registered ${names.join(', ')}` : ''}`);
        this.options.onReady?.(peer);
      },
      (err: Error) => this.dropConnection(conn, `registration failed: ${err.message}`, 'warn'),
    );
  }

  private async registerAll(conn: Connection): Promise<void> {
    for (const definition of this.definitions) await this.registerObject(conn, definition);
    for (const listener of this.listeners) await this.registerListener(conn, listener);
    for (const subscription of this.subscriptions) {
      await this.registerSubscription(conn, subscription).catch((err: Error) => {
        this.options.log('debug', `ubus: subscription to ${subscription.path} not renewed: ${err.message}`);
      });
    }
  }

  private async registerSubscription(conn: Connection, subscription: { path: string; callback: UbusEventCallback }): Promise<void> {
    const id = await this.addObjectRequest(conn, [], `subscriber to ${subscription.path}`);
    conn.objects.set(id, { kind: 'listener', pattern: subscription.path, callback: subscription.callback, id });
    const result = await this.request(UBUS_MSG.LOOKUP, 0, [ubusAttr.string(UBUS_ATTR.OBJPATH, subscription.path)], undefined, conn);
    const target = result.raw.find((m) => m.attrs.objid !== undefined)?.attrs.objid;
    if (result.status !== UBUS_STATUS.OK || target === undefined) throw new UbusStatusError(result.status, `lookup ${subscription.path}`);
    const subscribed = await this.request(
      UBUS_MSG.SUBSCRIBE,
      0,
      [ubusAttr.int32(UBUS_ATTR.OBJID, id), ubusAttr.int32(UBUS_ATTR.TARGET, target)],
      undefined,
      conn,
    );
    if (subscribed.status !== UBUS_STATUS.OK) throw new UbusStatusError(subscribed.status, `subscribe ${subscription.path}`);
  }

  /** ubus_add_object: path + signature (one blobmsg table per method, argument → type). */
  private async registerObject(conn: Connection, definition: UbusObjectDefinition): Promise<void> {
    const signature = encodeBlobmsgEntries(
      Object.entries(definition.methods).map(([name, method]) => ({
        name,
        value: bm.table(Object.entries(method.policy ?? {}).map(([arg, type]) => ({ name: arg, value: bm.u32(type) }))),
      })),
    );
    const id = await this.addObjectRequest(conn, [ubusAttr.string(UBUS_ATTR.OBJPATH, definition.name), ubusAttr.nested(UBUS_ATTR.SIGNATURE, signature)], definition.name);
    conn.objects.set(id, { kind: 'object', definition, id, hasSubscribers: false });
  }

  /** ubus_register_event_handler: a nameless object, then event object's "register". */
  private async registerListener(conn: Connection, listener: { pattern: string; callback: UbusEventCallback }): Promise<void> {
    const id = await this.addObjectRequest(conn, [], `listener for ${listener.pattern}`);
    conn.objects.set(id, { kind: 'listener', ...listener, id });
    const result = await this.request(
      UBUS_MSG.INVOKE,
      UBUS_SYSTEM_OBJECT.EVENT,
      [
        ubusAttr.int32(UBUS_ATTR.OBJID, UBUS_SYSTEM_OBJECT.EVENT),
        ubusAttr.string(UBUS_ATTR.METHOD, 'register'),
        ubusAttr.nested(UBUS_ATTR.DATA, encodeBlobmsgEntries([
          { name: 'object', value: bm.u32(id) },
          { name: 'pattern', value: bm.string(listener.pattern) },
        ])),
      ],
      undefined,
      conn,
    );
    if (result.status !== UBUS_STATUS.OK) throw new UbusStatusError(result.status, `register listener ${listener.pattern}`);
  }

  private async addObjectRequest(conn: Connection, attrs: Uint8Array[], what: string): Promise<number> {
    const result = await this.request(UBUS_MSG.ADD_OBJECT, 0, attrs, undefined, conn);
    const id = result.raw.find((m) => m.attrs.objid !== undefined)?.attrs.objid;
    if (result.status !== UBUS_STATUS.OK) throw new UbusStatusError(result.status, `add object ${what}`);
    if (id === undefined) throw new UbusStatusError(UBUS_STATUS.NO_DATA, `add object ${what}`);
    return id;
  }

  /** Ends a connection (once) and schedules the next attempt. */
  private dropConnection(conn: Connection, reason: string, level: 'debug' | 'warn' = 'debug'): void {
    if (this.connection !== conn) return;
    this.connection = undefined;
    conn.socket.destroy();
    this.failPending(UBUS_STATUS.CONNECTION_FAILED);
    if (this.closed) return;
    if (conn.ready || (level === 'warn' && reason !== this.lastFailure)) {
      this.options.log('warn', `ubus: ${reason}; reconnecting`);
    } else if (reason !== this.lastFailure) {
      // Waiting for ubusd (not running yet, or restarting) is normal: say so once.
      this.options.log(this.lastFailure ? 'debug' : 'info', `ubus: ${reason}; retrying in the background`);
    }
    this.lastFailure = reason;
    const delay = conn.ready ? this.options.reconnectMinMs : this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.options.reconnectMaxMs);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }

  // -------------------------------------------------------------------------
  // Requests we make

  /** ++request_seq in 16 bits, as libubus counts. */
  private nextSeq(): number {
    this.requestSeq = (this.requestSeq + 1) & 0xffff;
    return this.requestSeq;
  }

  private request(
    type: number,
    peer: number,
    attrs: Uint8Array[],
    timeoutMs = this.options.requestTimeoutMs,
    conn = this.connection,
  ): Promise<{ status: number; data: BlobmsgEntry[][]; raw: UbusMessage[] }> {
    if (!conn || conn.localId === undefined || this.connection !== conn) {
      return Promise.resolve({ status: UBUS_STATUS.CONNECTION_FAILED, data: [], raw: [] });
    }
    const seq = this.nextSeq();
    const key = `${seq}/${peer >>> 0}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        resolve({ status: UBUS_STATUS.TIMEOUT, data: [], raw: [] });
      }, timeoutMs);
      this.pending.get(key)?.resolve({ status: UBUS_STATUS.TIMEOUT, data: [], raw: [] }); // seq wrapped onto a stuck request
      this.pending.set(key, { data: [], raw: [], resolve, timer });
      try {
        this.send(conn, type, seq, peer, attrs);
      } catch (err) {
        // Too big for UBUS_MAX_MSGLEN: refused before sending, as ubus_start_request does.
        clearTimeout(timer);
        this.pending.delete(key);
        this.options.log('warn', `ubus: request not sent: ${(err as Error).message}`);
        resolve({ status: UBUS_STATUS.INVALID_ARGUMENT, data: [], raw: [] });
      }
    });
  }

  private failPending(status: number): void {
    for (const [key, request] of this.pending) {
      clearTimeout(request.timer);
      this.pending.delete(key);
      request.resolve({ status, data: request.data, raw: request.raw });
    }
  }

  private send(conn: Connection, type: number, seq: number, peer: number, attrs: Uint8Array[]): void {
    if (conn.socket.destroyed) return;
    conn.socket.write(encodeUbusMessage({ type, seq, peer }, attrs));
  }

  // -------------------------------------------------------------------------
  // Messages ubusd sends us

  private onMessage(conn: Connection, message: UbusMessage): void {
    const { header, attrs } = message;
    switch (header.type) {
      case UBUS_MSG.DATA:
      case UBUS_MSG.STATUS: {
        const key = `${header.seq}/${header.peer}`;
        const request = this.pending.get(key);
        if (!request) return; // a late answer to a request that timed out
        request.raw.push(message);
        if (header.type === UBUS_MSG.DATA) {
          if (attrs.data) {
            try {
              request.data.push(decodeBlobmsgEntries(attrs.data, true));
            } catch (err) {
              this.options.log('warn', `ubus: unreadable reply data: ${(err as Error).message}`);
            }
          }
          return;
        }
        clearTimeout(request.timer);
        this.pending.delete(key);
        request.resolve({ status: attrs.status ?? UBUS_STATUS.INVALID_ARGUMENT, data: request.data, raw: request.raw });
        return;
      }
      case UBUS_MSG.INVOKE:
        this.onInvoke(conn, header.seq, header.peer, attrs).catch((err: Error) => {
          this.options.log('error', `ubus: invoke of ${attrs.method ?? '?'} failed: ${err.message}`);
        });
        return;
      case UBUS_MSG.NOTIFY: {
        // ubusd telling an object owner whether it has subscribers.
        const obj = attrs.objid === undefined ? undefined : conn.objects.get(attrs.objid);
        if (obj?.kind === 'object' && attrs.active !== undefined) obj.hasSubscribers = attrs.active;
        return;
      }
      default:
        return; // UNSUBSCRIBE (we subscribe to nothing), MONITOR, …: nothing to do
    }
  }

  /** ubus_process_invoke: find the object and method, run it, answer DATA + STATUS. */
  private async onInvoke(conn: Connection, seq: number, peer: number, attrs: UbusAttrs): Promise<void> {
    const objid = attrs.objid;
    if (objid === undefined) return; // libubus ignores an INVOKE without an object id
    const obj = conn.objects.get(objid);
    const answer = (reply: UbusReply) => {
      if (attrs.noReply || this.connection !== conn) return;
      let status = reply.status ?? UBUS_STATUS.OK;
      if (reply.data) {
        try {
          this.send(conn, UBUS_MSG.DATA, seq, peer, [ubusAttr.int32(UBUS_ATTR.OBJID, objid), ubusAttr.nested(UBUS_ATTR.DATA, encodeBlobmsgEntries(reply.data))]);
        } catch (err) {
          this.options.log('error', `ubus: reply to ${attrs.method ?? '?'} not sent: ${(err as Error).message}`);
          status = UBUS_STATUS.UNKNOWN_ERROR;
        }
      }
      this.send(conn, UBUS_MSG.STATUS, seq, peer, [ubusAttr.int32(UBUS_ATTR.STATUS, status), ubusAttr.int32(UBUS_ATTR.OBJID, objid)]);
    };
    if (!obj) return answer({ status: UBUS_STATUS.NOT_FOUND });
    if (attrs.method === undefined) return answer({ status: UBUS_STATUS.INVALID_ARGUMENT });
    const method = attrs.method;
    let args: BlobmsgEntry[];
    try {
      if (!attrs.data) return answer({ status: UBUS_STATUS.INVALID_ARGUMENT });
      args = decodeBlobmsgEntries(attrs.data, false);
    } catch (err) {
      if (!(err instanceof BlobError)) throw err;
      return answer({ status: UBUS_STATUS.INVALID_ARGUMENT });
    }
    if (obj.kind === 'listener') {
      try {
        obj.callback(method, args);
      } catch (err) {
        this.options.log('warn', `ubus: event listener for ${obj.pattern} failed: ${(err as Error).message}`);
      }
      return answer({ status: UBUS_STATUS.OK });
    }
    const handler = Object.hasOwn(obj.definition.methods, method) ? obj.definition.methods[method] : undefined;
    if (!handler) return answer({ status: UBUS_STATUS.METHOD_NOT_FOUND });
    let reply: UbusReply;
    try {
      reply = await handler.handler(args, {
        objectName: obj.definition.name,
        method,
        peer,
        ...(attrs.user !== undefined ? { user: attrs.user } : {}),
        ...(attrs.group !== undefined ? { group: attrs.group } : {}),
      });
    } catch (err) {
      this.options.log('error', `ubus: ${obj.definition.name}.${method} failed: ${(err as Error).message}`);
      reply = { status: UBUS_STATUS.UNKNOWN_ERROR };
    }
    answer(reply);
  }
}

export class UbusStatusError extends Error {
  override readonly name = 'UbusStatusError';
  constructor(readonly status: number, what: string) {
    super(`${what}: ${ubusStatusText(status)}`);
  }
}

/** The signature of a looked-up object: method tables of argument → int32 type. */
export function parseSignature(payload: Uint8Array | undefined): Record<string, Record<string, number>> {
  const methods: Record<string, Record<string, number>> = {};
  if (!payload) return methods;
  try {
    for (const method of decodeBlobmsgEntries(payload, true)) {
      if (method.value.type !== 'table') continue;
      const args: Record<string, number> = {};
      for (const arg of method.value.entries) {
        if (arg.value.type === 'int32') args[arg.name] = arg.value.value;
      }
      methods[method.name] = args;
    }
  } catch {
    // an unreadable signature reads as none
  }
  return methods;
}

/** A string argument from a method call (blobmsg_parse with a STRING policy). */
export function stringArg(args: readonly BlobmsgEntry[], name: string): string | undefined {
  for (const arg of args) {
    if (arg.name === name && arg.value.type === 'string') return arg.value.value;
  }
  return undefined;
}

function hex(id: number): string {
  return id.toString(16).padStart(8, '0');
}
