/**
 * The MQTT telemetry surface: publishes what the daemon's observatory sees to
 * a broker (topics and payloads in ./payloads). Loaded with a dynamic import
 * only when MQTT is enabled, so a router without it never evaluates MQTT.js.
 *
 * The tunnels never wait for the broker. Publishing goes through a bounded
 * Outbox and at most MAX_IN_FLIGHT unacknowledged messages; while the broker is
 * away the client retries with exponential backoff and jitter (a fleet whose
 * broker restarts should not reconnect in lock step), and on every connection
 * the whole picture is published again, since a broker without persistence has
 * forgotten its retained messages.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Observatory, WgtsEvent } from '../daemon/observatory';
import type { Logger } from '../platform/node/wg-interface';
import { describeBroker, type MqttOptions } from './config';
import { Outbox } from './outbox';
import {
  eventPayload,
  OFFLINE,
  ONLINE,
  peerDiscovery,
  peerSignature,
  peerState,
  peerStateTopic,
  routerSignature,
  routerState,
  routerTopic,
  type TopicScheme,
} from './payloads';
import { RateMeter } from './rates';

/** What the service needs of WgtsDaemon. */
export interface ObservedDaemon {
  readonly observatory: Pick<Observatory, 'snapshot' | 'on'>;
}

export interface MqttService {
  /** Publishes `offline`, disconnects cleanly and stops every timer. */
  close(): Promise<void>;
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** How often peers are checked for changes worth publishing before the next interval. */
const CHANGE_CHECK_MS = 2000;
/** Unacknowledged publishes handed to the client; the rest wait in the Outbox. */
const MAX_IN_FLIGHT = 32;
const CONNECT_TIMEOUT_MS = 10_000;
const KEEPALIVE_SECONDS = 30;
const CLOSE_TIMEOUT_MS = 2000;

export async function startMqttService(daemon: ObservedDaemon, options: MqttOptions, log: Logger = () => {}): Promise<MqttService> {
  const publisher = new MqttPublisher(daemon.observatory, options, log);
  publisher.start();
  return publisher;
}

interface KnownPeer {
  interfaceName: string;
  publicKey: string;
  description?: string;
  signature: string;
}

class MqttPublisher implements MqttService {
  private readonly scheme: TopicScheme;
  private readonly outbox: Outbox;
  private readonly rates = new RateMeter();
  /** Peers published so far, by interface + key, to notice changes and removals. */
  private readonly known = new Map<string, KnownPeer>();
  private routerSig = '';
  private client: MqttClient | undefined;
  private inFlight = 0;
  private connections = 0;
  private backoffMs = MIN_BACKOFF_MS;
  private lastError = '';
  private closing = false;
  private changeCheckPending = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly observatory: ObservedDaemon['observatory'],
    private readonly options: MqttOptions,
    private readonly log: Logger,
  ) {
    this.scheme = { topicPrefix: options.topicPrefix, routerId: options.routerId, discoveryPrefix: options.discoveryPrefix };
    this.outbox = new Outbox(options.queueLimit);
  }

  start(): void {
    const { options } = this;
    // Read the certificate files first: a missing one is a configuration error, not a retry.
    const tls = {
      ...(options.ca ? { ca: readFileSync(options.ca) } : {}),
      ...(options.cert ? { cert: readFileSync(options.cert) } : {}),
      ...(options.key ? { key: readFileSync(options.key) } : {}),
    };
    const clientOptions: IClientOptions = {
      clientId: options.clientId,
      clean: true,
      protocolVersion: 4,
      keepalive: KEEPALIVE_SECONDS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectPeriod: MIN_BACKOFF_MS,
      // A broker refusing us (bad password, not yet provisioned) may be fixed on its side.
      reconnectOnConnackError: true,
      // Nothing may queue inside the client: the Outbox is the only, bounded, queue.
      queueQoSZero: false,
      will: { topic: routerTopic(this.scheme, 'availability'), payload: Buffer.from(OFFLINE), qos: 1, retain: true },
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...tls,
      rejectUnauthorized: true,
    };

    this.sampleAll(Date.now()); // the baseline for the first interval's rates
    this.checkChanges(); // fills the Outbox before the first connection
    this.unsubscribe = this.observatory.on((event) => this.onEvent(event));
    this.timers.push(setInterval(() => this.guard('interval publish', () => this.publishAll(true)), options.intervalSeconds * 1000));
    this.timers.push(setInterval(() => this.guard('change check', () => this.checkChanges()), CHANGE_CHECK_MS));
    for (const timer of this.timers) timer.unref();

    const client = connect(options.url, clientOptions);
    this.client = client;
    client.on('connect', () => this.guard('connect', () => this.onConnect()));
    client.on('reconnect', () => {
      // MQTT.js reads reconnectPeriod when it schedules the next attempt, after this one fails.
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
      client.options.reconnectPeriod = Math.round(this.backoffMs * (0.8 + 0.4 * Math.random()));
    });
    client.on('offline', () => {
      if (!this.closing) this.log('warn', `mqtt: ${describeBroker(options.url)} unreachable; retrying with backoff (tunnels unaffected)`);
    });
    client.on('error', (err: Error) => {
      if (err.message === this.lastError) return; // one line per distinct failure, not one per retry
      this.lastError = err.message;
      this.log('warn', `mqtt: ${describeBroker(options.url)}: ${err.message}`);
    });
    this.log('info', `mqtt: publishing to ${describeBroker(options.url)} as ${this.options.topicPrefix}/${this.options.routerId}${options.homeAssistant ? ` with Home Assistant discovery under ${options.discoveryPrefix}/` : ''}`);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const timer of this.timers) clearInterval(timer);
    this.unsubscribe?.();
    const client = this.client;
    if (client === undefined) return;
    if (client.connected) {
      // A clean disconnect suppresses the Last Will, so say offline ourselves.
      await withTimeout(
        new Promise<void>((resolve) => client.publish(routerTopic(this.scheme, 'availability'), OFFLINE, { qos: 1, retain: true }, () => resolve())),
        CLOSE_TIMEOUT_MS,
      );
    }
    const ended = await withTimeout(client.endAsync(false).then(() => true, () => false), CLOSE_TIMEOUT_MS);
    if (!ended) await client.endAsync(true).catch(() => undefined);
  }

  private onConnect(): void {
    const client = this.client!;
    this.connections++;
    this.backoffMs = MIN_BACKOFF_MS;
    client.options.reconnectPeriod = MIN_BACKOFF_MS;
    this.lastError = '';
    this.log('info', `mqtt: connected to ${describeBroker(this.options.url)}${this.connections > 1 ? ' again' : ''}`);
    // Straight to the client so that `online` precedes everything waiting in the Outbox.
    this.inFlight++;
    client.publish(routerTopic(this.scheme, 'availability'), ONLINE, { qos: 1, retain: true }, () => this.sent());
    this.publishAll(false, true);
  }

  /** Every retained topic; rates are re-measured only at interval ticks. */
  private publishAll(sampleRates: boolean, withDiscovery = false): void {
    const now = Date.now();
    if (sampleRates) this.sampleAll(now);
    const interfaces = this.observatory.snapshot();
    const present = new Set<string>();
    for (const iface of interfaces) {
      for (const peer of iface.peers) {
        const id = knownId(iface.name, peer.publicKey);
        present.add(id);
        const fresh = !this.known.has(id);
        this.known.set(id, { interfaceName: iface.name, publicKey: peer.publicKey, ...(peer.description ? { description: peer.description } : {}), signature: peerSignature(peer) });
        if ((fresh || withDiscovery) && this.options.homeAssistant) this.publishDiscovery(iface.name, peer);
        this.pushJson(peerStateTopic(this.scheme, iface.name, peer.publicKey), peerState(this.options.routerId, iface.name, peer, this.rates.rates(id), now), true);
      }
    }
    this.forgetMissing(present);
    this.routerSig = routerSignature(interfaces);
    this.pushJson(routerTopic(this.scheme, 'state'), routerState(this.options.routerId, hostname(), interfaces, this.stats(), now), true);
    this.pump();
  }

  /** Publishes only what changed since the last look: new, changed and removed peers, the router summary. */
  private checkChanges(): void {
    this.changeCheckPending = false;
    const now = Date.now();
    const interfaces = this.observatory.snapshot();
    const present = new Set<string>();
    for (const iface of interfaces) {
      for (const peer of iface.peers) {
        const id = knownId(iface.name, peer.publicKey);
        present.add(id);
        const signature = peerSignature(peer);
        const known = this.known.get(id);
        if (known?.signature === signature) continue;
        this.known.set(id, { interfaceName: iface.name, publicKey: peer.publicKey, ...(peer.description ? { description: peer.description } : {}), signature });
        if (this.options.homeAssistant && (known === undefined || known.description !== peer.description)) this.publishDiscovery(iface.name, peer);
        this.pushJson(peerStateTopic(this.scheme, iface.name, peer.publicKey), peerState(this.options.routerId, iface.name, peer, this.rates.rates(id), now), true);
      }
    }
    this.forgetMissing(present);
    const signature = routerSignature(interfaces);
    if (signature !== this.routerSig) {
      this.routerSig = signature;
      this.pushJson(routerTopic(this.scheme, 'state'), routerState(this.options.routerId, hostname(), interfaces, this.stats(), now), true);
    }
    this.pump();
  }

  /** Removes the retained state and discovery of peers that are gone, so dashboards do not show ghosts. */
  private forgetMissing(present: ReadonlySet<string>): void {
    for (const [id, peer] of this.known) {
      if (present.has(id)) continue;
      this.known.delete(id);
      this.outbox.push({ topic: peerStateTopic(this.scheme, peer.interfaceName, peer.publicKey), payload: '', retain: true });
      if (this.options.homeAssistant) {
        for (const message of peerDiscovery(this.scheme, peer.interfaceName, peer)) this.outbox.push({ topic: message.topic, payload: '', retain: true });
      }
    }
    this.rates.retainOnly(present);
  }

  private publishDiscovery(interfaceName: string, peer: { publicKey: string; description?: string }): void {
    for (const message of peerDiscovery(this.scheme, interfaceName, peer)) this.pushJson(message.topic, message.config, true);
  }

  private onEvent(event: WgtsEvent): void {
    if (this.closing) return;
    const description = this.known.get(knownId(event.interface, event.peer))?.description;
    this.pushJson(routerTopic(this.scheme, 'event'), eventPayload(this.options.routerId, event, description, Date.now()), false);
    this.pump();
    // The peer's state changed with the event: publish it now rather than at the next check.
    if (!this.changeCheckPending) {
      this.changeCheckPending = true;
      setImmediate(() => this.guard('change check', () => this.checkChanges()));
    }
  }

  private sampleAll(now: number): void {
    for (const iface of this.observatory.snapshot()) {
      for (const peer of iface.peers) this.rates.sample(knownId(iface.name, peer.publicKey), peer.rxBytes, peer.txBytes, now);
    }
  }

  private stats() {
    return { dropped: this.outbox.dropped, queued: this.outbox.size, reconnects: Math.max(0, this.connections - 1) };
  }

  /** Queues a message; callers pump once they are done, so a pass's messages coalesce first. */
  private pushJson(topic: string, payload: unknown, retain: boolean): void {
    this.outbox.push({ topic, payload: JSON.stringify(payload), retain });
  }

  /** Hands waiting messages to the client while it is connected and the window has room. */
  private pump(): void {
    const client = this.client;
    if (client === undefined || this.closing) return;
    while (client.connected && this.inFlight < MAX_IN_FLIGHT) {
      const message = this.outbox.shift();
      if (message === undefined) return;
      this.inFlight++;
      client.publish(message.topic, message.payload, { qos: 1, retain: message.retain }, () => this.sent());
    }
  }

  /** A publish was acknowledged or failed; failed state is sent again at the next interval anyway. */
  private sent(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.pump();
  }

  /** A telemetry failure must never become a daemon failure. */
  private guard(what: string, work: () => void): void {
    try {
      work();
    } catch (err) {
      this.log('error', `mqtt: ${what} failed: ${(err as Error).message}`);
    }
  }
}

function knownId(interfaceName: string, publicKey: string): string {
  return `${interfaceName}\0${publicKey}`;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
