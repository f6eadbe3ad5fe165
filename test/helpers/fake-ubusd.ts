/**
 * A stand-in for OpenWrt's ubusd, the ubus message broker (openwrt/ubus:
 * ubusd_main.c, ubusd.c, ubusd_proto.c, ubusd_obj.c, ubusd_event.c,
 * ubusd_id.c), which cannot be installed here. It listens on a UNIX socket
 * and implements, as those files define them:
 *
 * - framing (ubusd_main.c client_cb): 8-byte header + one blob; a blob shorter
 *   than its header or padded beyond UBUS_MAX_MSGLEN disconnects the client;
 * - HELLO on accept, peer = the client's id (random, ≥ UBUS_SYSTEM_OBJECT_MAX,
 *   as ubus_alloc_id draws them) (ubusd_proto_new_client / ubusd_send_hello);
 * - PING answered with the same message as DATA (ubusd_send_pong);
 * - ADD_OBJECT with OBJPATH and SIGNATURE (or an existing OBJTYPE), answered
 *   DATA {OBJID, OBJTYPE} + STATUS; nameless objects for event listeners;
 *   REMOVE_OBJECT; duplicate paths refused (ubusd_handle_add_object,
 *   ubusd_create_object, ubus_create_obj_type);
 * - LOOKUP of all objects, one path or a prefix ending in '*', one DATA per
 *   object {OBJPATH, OBJID, OBJTYPE, SIGNATURE} then STATUS (__ubusd_handle_lookup);
 * - INVOKE routed to the object's client with the caller's seq and the caller's
 *   client id as peer (ubusd_handle_invoke / ubusd_forward_invoke); the
 *   owner's DATA and STATUS routed back to the client named by their peer,
 *   with peer rewritten to the object id (ubusd_handle_response);
 * - the event object (id 1): "register" {object, pattern} and "send"
 *   {id, data}, delivered as INVOKE {OBJID listener, METHOD id, DATA} with
 *   peer 0 and seq = ++event_seq, exact or trailing-'*' prefix patterns, never
 *   looped back to the sender, "ubus." ids refused; ubus.object.add/remove
 *   events (ubusd_event.c);
 * - SUBSCRIBE/UNSUBSCRIBE and NOTIFY with the subscription-state NOTIFY
 *   {OBJID, ACTIVE} to the target's owner and the subscriber list in the
 *   STATUS (ubusd_handle_add_watch, ubusd_handle_notify, ubus_notify_subscription);
 * - every other request answered STATUS with the handler's code, seq and
 *   peer copied from the request (the retmsg in ubusd_proto_receive_message).
 *
 * Left out: ACLs (every client is root here), the monitor object, fd passing,
 * and the write queue. One difference: a blob whose inner attributes are
 * malformed disconnects the client here, where ubusd would ignore the
 * attributes it cannot parse.
 *
 * For tests it records every frame each way (`traffic`), can send any bytes
 * to a client (`sendRaw`) and can be "restarted" (every connection closed and
 * all state forgotten, then listening again on the same path).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { bm, decodeBlobmsgEntries, encodeBlobmsgEntries, type BlobmsgEntry } from '../../src/ubus/blob';
import {
  decodeUbusMessage,
  encodeUbusMessage,
  UBUS_ATTR,
  UBUS_MSG,
  UBUS_STATUS,
  UBUS_SYSTEM_OBJECT,
  UBUS_SYSTEM_OBJECT_MAX,
  ubusAttr,
  UbusFrameReader,
  type UbusAttrs,
  type UbusHeader,
} from '../../src/ubus/message';

export interface RecordedFrame {
  direction: 'to-client' | 'from-client';
  clientId: number;
  type: number;
  bytes: Uint8Array;
}

interface Client {
  id: number;
  socket: net.Socket;
  reader: UbusFrameReader;
}

interface ObjectType {
  id: number;
  /** The SIGNATURE payload's method tables, encoded as received. */
  methods: Uint8Array;
  refcount: number;
}

interface BusObject {
  id: number;
  path?: string;
  client: Client;
  type?: ObjectType;
  invokeSeq: number;
  /** Objects subscribed to this one. */
  subscribers: BusObject[];
}

interface EventPattern {
  pattern: string;
  partial: boolean;
  object: BusObject;
}

/** The retmsg: a request handled without a reply of its own gets STATUS with this code. */
type Outcome = number | 'no-status';

export class FakeUbusd {
  readonly traffic: RecordedFrame[] = [];
  /** Things worth knowing in a failing test: connects, disconnects, refusals. */
  readonly notes: string[] = [];
  private server: net.Server | undefined;
  private clients = new Map<number, Client>();
  private objects = new Map<number, BusObject>();
  private types = new Map<number, ObjectType>();
  private patterns: EventPattern[] = [];
  private eventSeq = 0;
  private connectionCount = 0;

  private constructor(readonly socketPath: string) {}

  static async start(socketPath: string): Promise<FakeUbusd> {
    const ubusd = new FakeUbusd(socketPath);
    await ubusd.listen();
    return ubusd;
  }

  /** Clients that ever said hello, this incarnation and earlier ones. */
  get connections(): number {
    return this.connectionCount;
  }

  clientIds(): number[] {
    return [...this.clients.keys()];
  }

  /** Registered paths with their object and client ids. */
  registered(): { path: string; id: number; clientId: number }[] {
    return [...this.objects.values()].flatMap((o) => (o.path ? [{ path: o.path, id: o.id, clientId: o.client.id }] : []));
  }

  /** Writes bytes to a client as they are: for malformed-frame tests. */
  sendRaw(clientId: number, bytes: Uint8Array): void {
    const client = this.clients.get(clientId);
    if (!client) throw new Error(`no client @${clientId.toString(16)}`);
    client.socket.write(bytes);
  }

  /** ubusd going away and coming back: every client dropped, all state lost. */
  async restart(): Promise<void> {
    await this.stop();
    this.notes.push('restarted');
    await this.listen();
  }

  async close(): Promise<void> {
    await this.stop();
  }

  // -------------------------------------------------------------------------

  private async listen(): Promise<void> {
    fs.rmSync(this.socketPath, { force: true });
    this.objects = new Map();
    this.types = new Map();
    this.patterns = [];
    this.clients = new Map();
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
  }

  private async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const client of this.clients.values()) client.socket.destroy();
    this.clients.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(this.socketPath, { force: true });
  }

  /** ubus_alloc_id: random 32-bit ids, never below UBUS_SYSTEM_OBJECT_MAX, unique per tree. */
  private allocId(taken: Map<number, unknown>): number {
    for (;;) {
      const id = randomBytes(4).readUInt32BE(0);
      if (id >= UBUS_SYSTEM_OBJECT_MAX && !taken.has(id)) return id;
    }
  }

  private accept(socket: net.Socket): void {
    const client: Client = { id: this.allocId(this.clients), socket, reader: new UbusFrameReader() };
    this.clients.set(client.id, client);
    this.connectionCount++;
    this.notes.push(`client @${hex(client.id)} connected`);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.disconnect(client, 'closed'));
    socket.on('data', (chunk: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = client.reader.push(new Uint8Array(chunk));
      } catch (err) {
        this.disconnect(client, `bad frame: ${(err as Error).message}`);
        return;
      }
      for (const frame of frames) {
        if (!this.clients.has(client.id)) return;
        this.receive(client, frame);
      }
    });
    this.send(client, { type: UBUS_MSG.HELLO, seq: 0, peer: client.id }, []);
  }

  private disconnect(client: Client, why: string): void {
    if (this.clients.get(client.id) !== client) return;
    this.clients.delete(client.id);
    client.socket.destroy();
    this.notes.push(`client @${hex(client.id)} disconnected (${why})`);
    for (const obj of [...this.objects.values()]) {
      if (obj.client === client) this.freeObject(obj);
    }
  }

  private send(client: Client, header: Omit<UbusHeader, 'version'>, attrs: Uint8Array[]): void {
    this.write(client, encodeUbusMessage(header, attrs));
  }

  private write(client: Client, bytes: Uint8Array): void {
    if (client.socket.destroyed) return;
    this.traffic.push({ direction: 'to-client', clientId: client.id, type: bytes[1]!, bytes });
    client.socket.write(bytes);
  }

  private receive(client: Client, frame: Uint8Array): void {
    this.traffic.push({ direction: 'from-client', clientId: client.id, type: frame[1]!, bytes: frame });
    let header: UbusHeader;
    let attrs: UbusAttrs;
    try {
      ({ header, attrs } = decodeUbusMessage(frame));
    } catch (err) {
      this.disconnect(client, `bad message: ${(err as Error).message}`);
      return;
    }
    const outcome = this.dispatch(client, header, attrs, frame);
    if (outcome === 'no-status') return;
    this.send(client, { type: UBUS_MSG.STATUS, seq: header.seq, peer: header.peer }, [ubusAttr.int32(UBUS_ATTR.STATUS, outcome)]);
  }

  private dispatch(client: Client, header: UbusHeader, attrs: UbusAttrs, frame: Uint8Array): Outcome {
    switch (header.type) {
      case UBUS_MSG.PING: {
        const pong = frame.slice();
        pong[1] = UBUS_MSG.DATA;
        this.write(client, pong);
        return UBUS_STATUS.OK;
      }
      case UBUS_MSG.ADD_OBJECT:
        return this.addObject(client, header, attrs);
      case UBUS_MSG.REMOVE_OBJECT:
        return this.removeObject(client, header, attrs);
      case UBUS_MSG.LOOKUP:
        return this.lookup(client, header, attrs);
      case UBUS_MSG.INVOKE:
        return this.invoke(client, header, attrs);
      case UBUS_MSG.STATUS:
      case UBUS_MSG.DATA:
        this.routeResponse(client, header, attrs, frame);
        return 'no-status';
      case UBUS_MSG.SUBSCRIBE:
        return this.subscribe(client, attrs);
      case UBUS_MSG.UNSUBSCRIBE:
        return this.unsubscribe(client, attrs);
      case UBUS_MSG.NOTIFY:
        return this.notify(client, header, attrs);
      default:
        return UBUS_STATUS.INVALID_COMMAND;
    }
  }

  private addObject(client: Client, header: UbusHeader, attrs: UbusAttrs): Outcome {
    let type: ObjectType | undefined;
    if (attrs.objtype !== undefined) {
      type = this.types.get(attrs.objtype);
    } else if (attrs.signature) {
      // Each method must be a named blobmsg table (blobmsg_check_attr(pos, true)).
      try {
        for (const method of decodeBlobmsgEntries(attrs.signature, true)) {
          if (method.value.type !== 'table') return UBUS_STATUS.INVALID_ARGUMENT;
        }
      } catch {
        return UBUS_STATUS.INVALID_ARGUMENT;
      }
      type = { id: this.allocId(this.types), methods: attrs.signature.slice(), refcount: 0 };
      this.types.set(type.id, type);
    }
    if (attrs.objpath !== undefined && this.registered().some((o) => o.path === attrs.objpath)) {
      this.notes.push(`refused duplicate object '${attrs.objpath}'`);
      return UBUS_STATUS.INVALID_ARGUMENT;
    }
    const obj: BusObject = {
      id: this.allocId(this.objects),
      client,
      invokeSeq: 0,
      subscribers: [],
      ...(attrs.objpath !== undefined ? { path: attrs.objpath } : {}),
      ...(type ? { type } : {}),
    };
    if (type) type.refcount++;
    this.objects.set(obj.id, obj);
    if (obj.path) {
      this.notes.push(`object '${obj.path}' @${hex(obj.id)} added by @${hex(client.id)}`);
      this.sendEvent(undefined, 'ubus.object.add', [{ name: 'id', value: bm.u32(obj.id) }, { name: 'path', value: bm.string(obj.path) }]);
    }
    const reply = [ubusAttr.int32(UBUS_ATTR.OBJID, obj.id)];
    if (attrs.signature && type) reply.push(ubusAttr.int32(UBUS_ATTR.OBJTYPE, type.id));
    this.send(client, { type: UBUS_MSG.DATA, seq: header.seq, peer: header.peer }, reply);
    return UBUS_STATUS.OK;
  }

  private removeObject(client: Client, header: UbusHeader, attrs: UbusAttrs): Outcome {
    if (attrs.objid === undefined) return UBUS_STATUS.INVALID_ARGUMENT;
    const obj = this.objects.get(attrs.objid);
    if (!obj) return UBUS_STATUS.NOT_FOUND;
    if (obj.client !== client) return UBUS_STATUS.PERMISSION_DENIED;
    const reply = [ubusAttr.int32(UBUS_ATTR.OBJID, obj.id)];
    if (obj.type && obj.type.refcount === 1) reply.push(ubusAttr.int32(UBUS_ATTR.OBJTYPE, obj.type.id));
    this.send(client, { type: UBUS_MSG.DATA, seq: header.seq, peer: header.peer }, reply);
    this.freeObject(obj);
    return UBUS_STATUS.OK;
  }

  private freeObject(obj: BusObject): void {
    for (const target of this.objects.values()) {
      const i = target.subscribers.indexOf(obj);
      if (i >= 0) {
        target.subscribers.splice(i, 1);
        if (target.subscribers.length === 0) this.notifySubscription(target);
      }
    }
    for (const subscriber of obj.subscribers) {
      // ubus_notify_unsubscribe: tell each subscriber its target is gone.
      this.send(subscriber.client, { type: UBUS_MSG.UNSUBSCRIBE, seq: ++subscriber.invokeSeq & 0xffff, peer: 0 }, [
        ubusAttr.int32(UBUS_ATTR.OBJID, subscriber.id),
        ubusAttr.int32(UBUS_ATTR.TARGET, obj.id),
      ]);
    }
    obj.subscribers = [];
    this.patterns = this.patterns.filter((p) => p.object !== obj);
    this.objects.delete(obj.id);
    if (obj.type && --obj.type.refcount === 0) this.types.delete(obj.type.id);
    if (obj.path) {
      this.notes.push(`object '${obj.path}' @${hex(obj.id)} removed`);
      this.sendEvent(undefined, 'ubus.object.remove', [{ name: 'id', value: bm.u32(obj.id) }, { name: 'path', value: bm.string(obj.path) }]);
    }
  }

  private lookup(client: Client, header: UbusHeader, attrs: UbusAttrs): Outcome {
    const byPath = [...this.objects.values()].filter((o) => o.path !== undefined).sort((a, b) => (a.path! < b.path! ? -1 : 1));
    let found: BusObject[];
    if (attrs.objpath === undefined) {
      found = byPath;
    } else if (attrs.objpath === '') {
      return UBUS_STATUS.INVALID_ARGUMENT;
    } else if (attrs.objpath.endsWith('*')) {
      const prefix = attrs.objpath.slice(0, -1);
      found = byPath.filter((o) => o.path!.startsWith(prefix));
      if (found.length === 0) return UBUS_STATUS.NOT_FOUND;
    } else {
      found = byPath.filter((o) => o.path === attrs.objpath);
      if (found.length === 0) return UBUS_STATUS.NOT_FOUND;
    }
    for (const obj of found) {
      if (!obj.type) continue; // ubusd_send_obj skips objects without a type
      this.send(client, { type: UBUS_MSG.DATA, seq: header.seq, peer: header.peer }, [
        ubusAttr.string(UBUS_ATTR.OBJPATH, obj.path!),
        ubusAttr.int32(UBUS_ATTR.OBJID, obj.id),
        ubusAttr.int32(UBUS_ATTR.OBJTYPE, obj.type.id),
        ubusAttr.nested(UBUS_ATTR.SIGNATURE, obj.type.methods),
      ]);
    }
    return UBUS_STATUS.OK;
  }

  private invoke(client: Client, header: UbusHeader, attrs: UbusAttrs): Outcome {
    if (attrs.method === undefined || attrs.objid === undefined) return UBUS_STATUS.INVALID_ARGUMENT;
    if (attrs.objid === UBUS_SYSTEM_OBJECT.EVENT) return this.eventObject(client, attrs.method, attrs.data);
    const obj = this.objects.get(attrs.objid);
    if (!obj) return UBUS_STATUS.NOT_FOUND;
    this.forwardInvoke(obj, header.seq, client.id, attrs.method, attrs.data, false);
    return 'no-status';
  }

  /** ubusd_forward_invoke: the object's owner gets the caller's seq and the caller's id as peer. */
  private forwardInvoke(obj: BusObject, seq: number, callerId: number, method: string, data: Uint8Array | undefined, noReply: boolean): void {
    const attrs = [ubusAttr.int32(UBUS_ATTR.OBJID, obj.id), ubusAttr.string(UBUS_ATTR.METHOD, method)];
    if (noReply) attrs.unshift(ubusAttr.int8(UBUS_ATTR.NO_REPLY, 1));
    if (data) attrs.push(ubusAttr.nested(UBUS_ATTR.DATA, data));
    this.send(obj.client, { type: UBUS_MSG.INVOKE, seq, peer: callerId }, attrs);
  }

  /** ubusd_handle_response: from the object's owner, to the client in `peer`, peer := object id. */
  private routeResponse(client: Client, header: UbusHeader, attrs: UbusAttrs, frame: Uint8Array): void {
    if (attrs.objid === undefined) return;
    if (header.type === UBUS_MSG.STATUS && attrs.status === undefined) return;
    if (header.type === UBUS_MSG.DATA && attrs.data === undefined) return;
    const obj = this.objects.get(attrs.objid);
    if (!obj || obj.client !== client) return;
    const caller = this.clients.get(header.peer);
    if (!caller) return; // e.g. the STATUS a listener sends for an event (peer 0)
    const forwarded = frame.slice();
    new DataView(forwarded.buffer).setUint32(4, attrs.objid);
    this.write(caller, forwarded);
  }

  private eventObject(client: Client, method: string, data: Uint8Array | undefined): Outcome {
    if (!data) return UBUS_STATUS.INVALID_ARGUMENT;
    let args: BlobmsgEntry[];
    try {
      args = decodeBlobmsgEntries(data, false);
    } catch {
      return UBUS_STATUS.INVALID_ARGUMENT;
    }
    const arg = (name: string) => args.find((a) => a.name === name)?.value;
    if (method === 'register') {
      const object = arg('object');
      const pattern = arg('pattern');
      if (object?.type !== 'int32' || pattern?.type !== 'string') return UBUS_STATUS.INVALID_ARGUMENT;
      if (object.value < UBUS_SYSTEM_OBJECT_MAX) return UBUS_STATUS.PERMISSION_DENIED;
      const obj = this.objects.get(object.value);
      if (!obj) return UBUS_STATUS.NOT_FOUND;
      if (obj.client !== client || pattern.value.length === 0) return UBUS_STATUS.PERMISSION_DENIED;
      const partial = pattern.value.endsWith('*');
      this.patterns.push({ pattern: partial ? pattern.value.slice(0, -1) : pattern.value, partial, object: obj });
      return UBUS_STATUS.OK;
    }
    if (method === 'send') {
      const id = arg('id');
      const payload = arg('data');
      if (id?.type !== 'string' || payload?.type !== 'table') return UBUS_STATUS.INVALID_ARGUMENT;
      if (id.value.startsWith('ubus.')) return UBUS_STATUS.PERMISSION_DENIED;
      this.sendEvent(client, id.value, payload.entries);
      return UBUS_STATUS.OK;
    }
    return UBUS_STATUS.INVALID_COMMAND;
  }

  /** ubusd_send_event: each matching listener object once, never the sender's own. */
  private sendEvent(sender: Client | undefined, id: string, data: BlobmsgEntry[]): void {
    const seen = new Set<BusObject>();
    const content = encodeBlobmsgEntries(data);
    for (const { pattern, partial, object } of this.patterns) {
      const matches = partial ? id.startsWith(pattern) : id === pattern;
      if (!matches || object.client === sender || seen.has(object)) continue;
      seen.add(object);
      this.eventSeq = (this.eventSeq + 1) & 0xffff;
      this.send(object.client, { type: UBUS_MSG.INVOKE, seq: this.eventSeq, peer: 0 }, [
        ubusAttr.int32(UBUS_ATTR.OBJID, object.id),
        ubusAttr.string(UBUS_ATTR.METHOD, id),
        ubusAttr.nested(UBUS_ATTR.DATA, content),
      ]);
    }
  }

  private subscribe(client: Client, attrs: UbusAttrs): Outcome {
    if (attrs.objid === undefined || attrs.target === undefined) return UBUS_STATUS.INVALID_ARGUMENT;
    const obj = this.objects.get(attrs.objid);
    if (!obj) return UBUS_STATUS.NOT_FOUND;
    if (obj.client !== client) return UBUS_STATUS.INVALID_ARGUMENT;
    const target = this.objects.get(attrs.target);
    if (!target) return UBUS_STATUS.NOT_FOUND;
    if (target.client === client) return UBUS_STATUS.INVALID_ARGUMENT;
    target.subscribers.push(obj);
    if (target.subscribers.length === 1) this.notifySubscription(target);
    return UBUS_STATUS.OK;
  }

  private unsubscribe(client: Client, attrs: UbusAttrs): Outcome {
    if (attrs.objid === undefined || attrs.target === undefined) return UBUS_STATUS.INVALID_ARGUMENT;
    const obj = this.objects.get(attrs.objid);
    if (!obj) return UBUS_STATUS.NOT_FOUND;
    if (obj.client !== client) return UBUS_STATUS.INVALID_ARGUMENT;
    const target = this.objects.get(attrs.target);
    const i = target ? target.subscribers.indexOf(obj) : -1;
    if (!target || i < 0) return UBUS_STATUS.NOT_FOUND;
    target.subscribers.splice(i, 1);
    if (target.subscribers.length === 0) this.notifySubscription(target);
    return UBUS_STATUS.OK;
  }

  /** ubus_notify_subscription: tells the owner whether anyone listens now. */
  private notifySubscription(target: BusObject): void {
    target.invokeSeq = (target.invokeSeq + 1) & 0xffff;
    this.send(target.client, { type: UBUS_MSG.NOTIFY, seq: target.invokeSeq, peer: 0 }, [
      ubusAttr.int32(UBUS_ATTR.OBJID, target.id),
      ubusAttr.int8(UBUS_ATTR.ACTIVE, target.subscribers.length > 0 ? 1 : 0),
    ]);
  }

  private notify(client: Client, header: UbusHeader, attrs: UbusAttrs): Outcome {
    if (attrs.method === undefined || attrs.objid === undefined) return UBUS_STATUS.INVALID_ARGUMENT;
    const obj = this.objects.get(attrs.objid);
    if (!obj) return UBUS_STATUS.NOT_FOUND;
    if (obj.client !== client) return UBUS_STATUS.PERMISSION_DENIED;
    const noReply = attrs.noReply ?? false;
    if (!noReply) {
      const ids = obj.subscribers.map((s) => ubusAttr.int32(0, s.id));
      this.send(client, { type: UBUS_MSG.STATUS, seq: header.seq, peer: header.peer }, [
        ubusAttr.int32(UBUS_ATTR.OBJID, obj.id),
        ubusAttr.nested(UBUS_ATTR.SUBSCRIBERS, concat(ids)),
        ubusAttr.int32(UBUS_ATTR.STATUS, 0),
      ]);
    }
    for (const subscriber of obj.subscribers) this.forwardInvoke(subscriber, header.seq, client.id, attrs.method, attrs.data, noReply);
    return 'no-status';
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function hex(id: number): string {
  return id.toString(16).padStart(8, '0');
}
