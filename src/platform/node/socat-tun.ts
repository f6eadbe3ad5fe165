/**
 * A TUN device for node, with socat holding the file descriptor.
 *
 * Node cannot ioctl(TUNSETIFF), so socat opens the TUN and relays it over a connected pair
 * of loopback UDP sockets, one IP packet per datagram in each direction:
 *
 *   kernel <-> TUN fd (socat) <-> 127.0.0.1:B (socat) <-> 127.0.0.1:A (this node socket)
 *
 * Both sockets are connect()ed to each other, so the kernel drops datagrams from any other
 * local port; nothing but socat can inject packets. socat keeps the TUN fd when the link is
 * moved to another network namespace; the loopback pair stays in ours.
 *
 * How socat is told to behave, and why:
 *  - `-s` (sloppy) with an effectively endless `-t`: by default socat ends the whole relay on
 *    the first failed write, and writing to a TUN whose link is down fails (EIO). A link is
 *    down whenever an admin says so and right after `ip link set NAME netns X`, so one
 *    packet arriving at the wrong moment would destroy the interface. Sloppy socat logs the
 *    failure and carries on; `-t` keeps it from quitting later during a quiet spell.
 *    Because sloppy socat also carries on after errors at startup, any error logged before
 *    it reports the data loop counts as a failed start.
 *  - `shut-null` on the UDP side: when the TUN stops being readable (the link was deleted,
 *    reads fail with EBADFD) socat sends us an empty datagram, which an IP packet never is.
 *    That is our event-driven "link deleted" signal; we then stop socat and fire onClose.
 *
 * Lifetime: socat must never outlive us, whatever way node ends.
 *  - close() and a normal process exit kill socat by PID.
 *  - For deaths that run no JavaScript (SIGKILL, SIGTERM without a handler, OOM kill) each
 *    bridge has a guard: `sh -c 'read _; kill SOCAT_PID'` whose stdin is a pipe from us. When
 *    node dies, the kernel closes the pipe, `read` sees EOF and the guard kills socat, which
 *    takes the (non-persistent) TUN link with it.
 *  - socat and its guard get their own session (detached), so a terminal's Ctrl-C reaches
 *    only node, which can then shut down in order instead of losing its link underneath.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import type { TunDevice } from '../types';
import { TunEvents } from './tun-events';
import { setMtuOrClose } from './ip-config';

export interface SocatTunOptions {
  name: string;
  mtu?: number;
  socatPath?: string;
  log?: (msg: string) => void;
  /** How long socat may take to create the link and connect (default 5000 ms). */
  readyTimeoutMs?: number;
}

/** Big enough for bursts while node is busy encrypting; the kernel caps it at rmem_max. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** socat's per-read buffer: the largest IP packet, so none is ever truncated. */
const SOCAT_BUFFER_BYTES = 65536;
/** socat's -t: how long it lingers after an error before quitting; ~3 years is "never". */
const SOCAT_LINGER_SECONDS = 100_000_000;
/** socat says this (at -d -d) once both the TUN and the UDP socket are open. */
const READY_LINE = /starting data transfer loop/;
/** The level letter in socat's log format: "2024/01/01 00:00:00 socat[123] E message". */
const ERROR_LINE = /socat\[\d+\] [EF] (.*)$/;
const PORT_TAKEN = /Address already in use/;
const BIND_ATTEMPTS = 5;
const STDERR_LINES_KEPT = 20;
const KILL_GRACE_MS = 2000;
/** socat logs every failed write (link down); pass on at most this many lines per window. */
const LOG_LINES_PER_WINDOW = 10;
const LOG_WINDOW_MS = 10_000;

/** Names socat's address syntax passes through untouched (no ',', ':', '!', '='). */
const SAFE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Bridges still running, for the synchronous kill on process exit. */
const live = new Set<SocatTun>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const tun of live) tun.killNow();
  });
}

export class SocatTun extends TunEvents implements TunDevice {
  /** 'open', then 'closing' (our close()) or 'lost' (the link or socat went away). */
  private state: 'open' | 'closing' | 'lost' = 'open';
  /** Why the device was lost; kept for an onClose() registered afterwards. */
  private linkGone = false;
  private closing: Promise<void> | undefined;
  private readonly exited: Promise<void>;
  private socatRunning = true;

  constructor(
    readonly name: string,
    private readonly socket: dgram.Socket,
    private readonly socat: ChildProcess,
    private readonly guard: ChildProcess,
    stderrTail: () => string,
    private readonly log: (msg: string) => void,
  ) {
    super();
    socket.on('message', (msg) => {
      if (msg.length === 0) this.onLinkGone();
      else this.packetHandler?.(msg);
    });
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': it comes after socat's stderr is drained, so the reason is complete.
      socat.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.socatRunning = false;
        this.guard.kill('SIGKILL');
        live.delete(this);
        resolve();
        if (this.state === 'open') this.lost(this.describeLoss(code, signal, stderrTail()));
      });
    });
    // Only kill() can fail now (the process is already gone); nothing more to do about it.
    socat.on('error', (err) => log(`tun ${name}: socat: ${err.message}`));
    live.add(this);
    installExitHook();
  }

  /** socat's process id (diagnostics). */
  get socatPid(): number {
    return this.socat.pid!;
  }

  /** The loopback ports of the bridge: ours and socat's (diagnostics). */
  get ports(): { node: number; socat: number } {
    return { node: this.socket.address().port, socat: this.socket.remoteAddress().port };
  }

  write(packet: Uint8Array): void {
    // An empty datagram would read as end-of-file to socat and end the relay.
    if (this.state !== 'open' || this.linkGone || packet.length === 0) return;
    this.socket.send(packet, this.onSent);
  }

  private readonly onSent = (err: Error | null): void => {
    if (err) this.log(`tun ${this.name}: write failed: ${err.message}`);
  };

  close(): Promise<void> {
    if (this.state === 'lost') return this.exited;
    if (this.state === 'open') {
      this.state = 'closing';
      this.closing = this.stopSocat().then(() => this.closeSocket());
    }
    return this.closing!;
  }

  /** socat's empty datagram: the TUN fd no longer reads, so the link is gone. */
  private onLinkGone(): void {
    if (this.state !== 'open' || this.linkGone) return;
    this.linkGone = true;
    // The loss is reported once socat has exited and its last words are in.
    void this.stopSocat();
  }

  private async stopSocat(): Promise<void> {
    // Guard first, so it can never act on a PID that socat no longer owns.
    this.guard.kill('SIGKILL');
    if (!this.socatRunning) return;
    this.socat.kill('SIGTERM');
    const timer = setTimeout(() => this.socat.kill('SIGKILL'), KILL_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private describeLoss(code: number | null, signal: NodeJS.Signals | null, stderr: string): string {
    const lastError = lastErrorLine(stderr);
    if (this.linkGone) {
      return `TUN link ${this.name} is gone (deleted?)${lastError ? `: ${lastError}` : ''}`;
    }
    return `socat ${describeExit(code, signal)}${lastError ? `: ${lastError}` : ''}`;
  }

  private lost(reason: string): void {
    this.state = 'lost';
    this.closeSocket();
    this.log(`tun ${this.name}: ${reason}`);
    this.reportLost(reason);
  }

  private closeSocket(): void {
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }

  /** Synchronous last resort from the process 'exit' hook. */
  killNow(): void {
    if (this.socatRunning) this.socat.kill('SIGTERM');
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited with code ${code}`;
}

/** socat's last error message, e.g. "read(5, ...): File descriptor in bad state". */
function lastErrorLine(stderr: string): string | undefined {
  for (const line of stderr.split('\n').reverse()) {
    const m = ERROR_LINE.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

export async function openSocatTun(opts: SocatTunOptions): Promise<TunDevice> {
  if (!SAFE_NAME.test(opts.name)) {
    throw new Error(`invalid TUN name ${JSON.stringify(opts.name)} (1-15 of A-Z a-z 0-9 _ . -)`);
  }
  const log = opts.log ?? (() => {});
  for (let attempt = 1; ; attempt++) {
    try {
      const tun = await startBridge(opts, log);
      await setMtuOrClose(tun, opts.mtu);
      return tun;
    } catch (err) {
      // Another process took socat's port between our probe and socat's bind: pick again.
      if (err instanceof PortTakenError && attempt < BIND_ATTEMPTS) {
        log(`tun ${opts.name}: loopback port taken, retrying`);
        continue;
      }
      throw err;
    }
  }
}

class PortTakenError extends Error {}

function bindLoopback(): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({
      type: 'udp4',
      recvBufferSize: SOCKET_BUFFER_BYTES,
      sendBufferSize: SOCKET_BUFFER_BYTES,
    });
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** A loopback UDP port that was free a moment ago (the caller retries if that changed). */
async function probeFreePort(): Promise<number> {
  const probe = await bindLoopback();
  const { port } = probe.address();
  await new Promise<void>((resolve) => probe.close(resolve));
  return port;
}

function connect(socket: dgram.Socket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

async function startBridge(opts: SocatTunOptions, log: (msg: string) => void): Promise<SocatTun> {
  const socket = await bindLoopback();
  let socat: ChildProcess | undefined;
  let guard: ChildProcess | undefined;
  try {
    const nodePort = socket.address().port;
    const socatPort = await probeFreePort();
    // Connected before socat starts, so not even its first datagram comes from elsewhere.
    await connect(socket, socatPort);
    // After socat dies, sends to its port draw ICMP errors that surface here; the death
    // itself is handled through socat's exit, so these are only worth a log line.
    socket.on('error', (err) => log(`tun ${opts.name}: bridge socket: ${err.message}`));

    const tunAddress = `TUN,tun-name=${opts.name},tun-type=tun,iff-no-pi,iff-up`;
    const udpAddress =
      `UDP:127.0.0.1:${nodePort},bind=127.0.0.1:${socatPort},shut-null,` +
      `rcvbuf=${SOCKET_BUFFER_BYTES},sndbuf=${SOCKET_BUFFER_BYTES}`;
    const args = ['-d', '-d', '-s', '-t', String(SOCAT_LINGER_SECONDS), `-b${SOCAT_BUFFER_BYTES}`];
    socat = spawn(opts.socatPath ?? 'socat', [...args, tunAddress, udpAddress], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    if (socat.pid !== undefined) guard = spawnGuard(socat.pid, log);
    const stderr = collectStderr(socat, `tun ${opts.name}: `, log);
    await waitUntilReady(socat, stderr, opts.readyTimeoutMs ?? 5000);
    return new SocatTun(opts.name, socket, socat, guard!, stderr.tail, log);
  } catch (err) {
    guard?.kill('SIGKILL');
    const s = socat;
    if (s?.pid !== undefined && s.exitCode === null && s.signalCode === null) {
      await new Promise<void>((resolve) => {
        s.once('exit', () => resolve());
        s.kill('SIGKILL');
      });
    }
    socket.close();
    throw err;
  }
}

/** Kills socat if our end of its stdin pipe closes, i.e. if node dies (see the top). */
function spawnGuard(socatPid: number, log: (msg: string) => void): ChildProcess {
  const script = 'read _; kill "$1" 2>/dev/null';
  const guard = spawn('sh', ['-c', script, 'wgts-socat-guard', String(socatPid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  guard.on('error', (err) => log(`socat guard: ${err.message}`));
  guard.stdin!.on('error', () => {
    // EPIPE once the guard is gone; nothing to do.
  });
  return guard;
}

interface StderrLines {
  /** The last lines socat wrote, for error messages. */
  tail(): string;
  /** Calls back with each complete line (the first error or the ready line at startup). */
  onLine(listener: ((line: string) => void) | undefined): void;
}

function collectStderr(socat: ChildProcess, prefix: string, log: (msg: string) => void): StderrLines {
  const lines: string[] = [];
  let partial = '';
  let listener: ((line: string) => void) | undefined;
  let windowStart = 0;
  let loggedInWindow = 0;
  let suppressed = 0;
  const logLimited = (line: string): void => {
    const now = Date.now();
    if (now - windowStart >= LOG_WINDOW_MS) {
      if (suppressed > 0) log(`${prefix}(${suppressed} socat messages suppressed)`);
      windowStart = now;
      loggedInWindow = 0;
      suppressed = 0;
    }
    if (loggedInWindow++ < LOG_LINES_PER_WINDOW) log(prefix + line);
    else suppressed++;
  };
  socat.stderr!.setEncoding('utf8');
  socat.stderr!.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      logLimited(line);
      lines.push(line);
      if (lines.length > STDERR_LINES_KEPT) lines.shift();
      listener?.(line);
    }
  });
  return {
    tail: () => [...lines, partial].join('\n').trim(),
    onLine: (l) => {
      listener = l;
    },
  };
}

function waitUntilReady(socat: ChildProcess, stderr: StderrLines, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      stderr.onLine(undefined);
      socat.off('close', onClose);
      socat.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const fail = (why: string): void => {
      const tail = stderr.tail();
      finish(PORT_TAKEN.test(tail) ? new PortTakenError(tail) : new Error(`${why}: ${tail}`));
    };
    stderr.onLine((line) => {
      // Sloppy socat would carry on past a failed TUNSETIFF or bind; we do not.
      if (ERROR_LINE.test(line)) fail('socat could not open the TUN bridge');
      else if (READY_LINE.test(line)) finish();
    });
    const onClose = (code: number | null, signal: NodeJS.Signals | null): void => {
      fail(`socat ${describeExit(code, signal)} while opening the TUN bridge`);
    };
    const onError = (err: Error): void => {
      finish(new Error(`cannot run socat (${err.message}); is it installed?`));
    };
    const timer = setTimeout(() => {
      fail(`socat did not bring up the TUN bridge within ${timeoutMs} ms`);
    }, timeoutMs);
    socat.on('close', onClose);
    socat.on('error', onError);
  });
}
