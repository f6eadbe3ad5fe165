/**
 * A TUN device for node through wgts-tun (tun-pipe-helper.c), an optional small
 * helper that holds the TUN file descriptor and relays it over its stdin/stdout,
 * each packet framed as a 2-byte big-endian length and the packet.
 *
 * Why, next to the socat bridge: socat moves one packet per loopback UDP datagram,
 * i.e. per packet a select, a read, a sendto through the UDP stack in socat and a
 * recvmsg in node, and the same again the other way. Over a pipe, packets travel in
 * batches: the helper gathers what the TUN has ready into one write, node parses a
 * whole chunk per read, and node's packets within one event-loop turn are copied
 * into one reused buffer and leave in one write (frame-writer.ts).
 *
 * Lifetime needs no guard process: the helper exits when its stdin reaches end of
 * file, which happens however node ends, and the (non-persistent) link goes with it.
 * A deleted link makes the helper's TUN reads fail and it exits; node sees that as
 * the device being lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { TunDevice } from '../types';
import { TunEvents } from './tun-events';
import { FrameReader } from './frame-reader';
import { FrameWriter, MAX_FRAME_PAYLOAD } from './frame-writer';
import { setMtuOrClose } from './ip-config';

export interface PipeTunOptions {
  name: string;
  helperPath: string;
  mtu?: number;
  log?: (msg: string) => void;
  readyTimeoutMs?: number;
}

/** Packets queued towards the helper beyond this are dropped, as a full socket buffer would. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const KILL_GRACE_MS = 2000;
const READY_LINE = 'wgts-tun: ready';

export class PipeTun extends TunEvents implements TunDevice {
  private state: 'open' | 'closing' | 'lost' = 'open';
  private readonly reader = new FrameReader((packet) => this.packetHandler?.(packet));
  private readonly writer: FrameWriter;
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    private readonly helper: ChildProcess,
    stderrTail: () => string,
    private readonly log: (msg: string) => void,
  ) {
    super();
    helper.stdout!.on('data', (chunk: Buffer) => this.reader.push(chunk));
    helper.stdin!.on('error', (err) => log(`tun ${name}: helper stdin: ${err.message}`));
    this.writer = new FrameWriter(helper.stdin!, MAX_QUEUED_BYTES);
    this.exited = new Promise((resolve) => {
      helper.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        resolve();
        if (this.state !== 'open') return;
        const why = code === 3 ? `TUN link ${name} is gone (deleted?)` : `wgts-tun ${signal ? `killed by ${signal}` : `exited with code ${code}`}`;
        const tail = stderrTail();
        this.lost(tail ? `${why}: ${tail.split('\n').pop()}` : why);
      });
    });
  }

  /** Copies the packet into the next batch for the helper; the caller may reuse it at once. */
  write(packet: Uint8Array): void {
    if (this.state !== 'open' || packet.length > MAX_FRAME_PAYLOAD) return;
    this.writer.write(packet);
  }

  async close(): Promise<void> {
    if (this.state === 'open') {
      this.state = 'closing';
      // End of stdin is the helper's signal to remove the link and exit.
      this.writer.flush();
      this.helper.stdin!.end();
      const timer = setTimeout(() => this.helper.kill('SIGKILL'), KILL_GRACE_MS);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }

  private lost(reason: string): void {
    this.state = 'lost';
    this.log(`tun ${this.name}: ${reason}`);
    this.reportLost(reason);
  }
}

export async function openPipeTun(opts: PipeTunOptions): Promise<TunDevice> {
  const log = opts.log ?? (() => {});
  // Own session, as with socat: a terminal's Ctrl-C reaches node only, which then shuts down in order.
  const helper = spawn(opts.helperPath, [opts.name], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  helper.stderr!.setEncoding('utf8');
  helper.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4096);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`wgts-tun did not open ${opts.name} within ${opts.readyTimeoutMs ?? 5000} ms`)), opts.readyTimeoutMs ?? 5000);
      const done = (err?: Error) => {
        clearTimeout(timer);
        helper.stderr!.off('data', onData);
        helper.off('error', onError);
        helper.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onData = () => {
        if (stderr.includes(READY_LINE)) done();
      };
      const onError = (err: Error) => done(new Error(`cannot run ${opts.helperPath}: ${err.message}`));
      const onClose = (code: number | null) => done(new Error(`wgts-tun exited with code ${code}: ${stderr.trim()}`));
      helper.stderr!.on('data', onData);
      helper.once('error', onError);
      helper.once('close', onClose);
    });
    const tun = new PipeTun(opts.name, helper, () => stderr.replace(READY_LINE, '').trim(), log);
    await setMtuOrClose(tun, opts.mtu);
    return tun;
  } catch (err) {
    if (helper.exitCode === null && helper.signalCode === null) helper.kill('SIGKILL');
    throw err;
  }
}
