// The UNIX socket through which wg(8) and wg-quick configure a userspace
// WireGuard: /var/run/wireguard/IFACE.sock, speaking the text protocol of
// uapi/protocol.ts. Socket handling follows wireguard-go's ipc/uapi_linux.go:
// directory 0755, socket 0700 (umask 077), a stale socket file replaced unless
// a live daemon still answers on it.
//
// Requests are framed by an empty line and handled one at a time for the whole
// server, in arrival order, so a `get` never sees half of a `set` and replies on
// a connection come back in the order the requests were sent.

import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Device } from '../../device/device';
import { applySet, formatGet, parseSet, UapiErrno, UapiError, viewOf, type SetRequest } from '../../uapi/protocol';
import { removeStaleSocket } from './unix-socket';

export interface UapiServerOptions {
  interfaceName: string;
  device: Device;
  getListenPort(): number;
  /** Rebind; throw (or reject) if the port cannot be had. The reply is then EADDRINUSE. */
  setListenPort(port: number): Promise<void> | void;
  getFwmark(): number;
  setFwmark(mark: number): void;
  /** Default /var/run/wireguard, where wg(8) looks. */
  socketDir?: string;
  log?: (msg: string) => void;
  /**
   * Called once if the socket file is deleted or replaced underneath us. The
   * xplatform spec asks a daemon to exit then (that is how some tools stop it).
   */
  onSocketRemoved?: () => void;
}

export interface UapiServer {
  readonly path: string;
  close(): Promise<void>;
}

export const DEFAULT_SOCKET_DIR = '/var/run/wireguard';

/**
 * Largest request accepted. A `set` for 130,000 IPv6 allowed IPs is about 7 MB
 * (55 bytes a line); this leaves room for several times that.
 */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Longest line accepted; real lines are under 100 bytes (wireguard-go allows 64 KiB). */
export const MAX_LINE_BYTES = 64 * 1024;

const SOCKET_POLL_MS = 1000;

export async function serveUapi(opts: UapiServerOptions): Promise<UapiServer> {
  const name = opts.interfaceName;
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new Error(`invalid interface name ${JSON.stringify(name)}`);
  }
  const dir = opts.socketDir ?? DEFAULT_SOCKET_DIR;
  const path = `${dir}/${name}.sock`;
  const log = opts.log ?? (() => {});
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o755 });

  const connections = new Set<net.Socket>();
  const operations = new OperationQueue();
  const makeServer = (): net.Server =>
    net.createServer({ allowHalfOpen: true }, (socket) => {
      connections.add(socket);
      socket.on('close', () => connections.delete(socket));
      new UapiConnection(socket, opts, operations, log);
    });

  let server = makeServer();
  try {
    await listenPrivately(server, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    await removeStaleSocket(path, 'another daemon serves this interface');
    server = makeServer();
    await listenPrivately(server, path);
  }
  // The umask already made it 0700; chmod covers runtimes where umask cannot be set.
  await fs.promises.chmod(path, 0o700);
  const inode = (await fs.promises.lstat(path)).ino;
  log(`UAPI listening on ${path}`);

  let watcher: ReturnType<typeof setInterval> | undefined;
  if (opts.onSocketRemoved) {
    const notify = opts.onSocketRemoved;
    watcher = setInterval(() => {
      if (isOurSocket(path, inode)) return;
      clearInterval(watcher);
      watcher = undefined;
      log(`UAPI socket ${path} was removed`);
      notify();
    }, SOCKET_POLL_MS);
    watcher.unref();
  }

  let closing: Promise<void> | undefined;
  return {
    path,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        if (watcher) clearInterval(watcher);
        // Remove the file before closing so a new daemon can never lose its socket to us.
        if (isOurSocket(path, inode)) fs.rmSync(path, { force: true });
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
      });
      return closing;
    },
  };
}

/** listen() with umask 077 around the bind, as wireguard-go does, so the socket is never group/world accessible. */
function listenPrivately(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    let previousUmask: number | undefined;
    try {
      previousUmask = process.umask(0o077);
    } catch {
      // Worker threads cannot change the umask; the chmod afterwards still applies.
    }
    try {
      // A pipe is bound synchronously inside listen(), so the umask is in force for it.
      server.listen(path);
    } finally {
      if (previousUmask !== undefined) process.umask(previousUmask);
    }
  });
}

function isOurSocket(path: string, inode: number): boolean {
  try {
    return fs.lstatSync(path).ino === inode;
  } catch {
    return false;
  }
}

/** Runs async operations strictly one after another. */
class OperationQueue {
  private tail: Promise<void> = Promise.resolve();

  run(operation: () => Promise<void> | void): Promise<void> {
    const next = this.tail.then(operation).catch(() => {});
    this.tail = next;
    return next;
  }
}

function errnoReply(errno: number): string {
  return `errno=${errno}\n\n`;
}

/** One client: splits its byte stream into requests and answers each in turn. */
class UapiConnection {
  private partial = '';
  private request: string[] = [];
  private requestBytes = 0;
  /** Set once the connection is being wound down; later input is ignored. */
  private finished = false;
  /** The last reply queued for this connection (the socket is ended after it). */
  private lastReply: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: net.Socket,
    private readonly opts: UapiServerOptions,
    private readonly operations: OperationQueue,
    private readonly log: (msg: string) => void,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('end', () => this.endOfInput());
    socket.on('error', (error) => {
      this.log(`UAPI connection error: ${error.message}`);
      this.finished = true;
    });
  }

  private receive(chunk: string): void {
    if (this.finished) return;
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
      const line = this.partial + chunk.slice(start, nl);
      this.partial = '';
      start = nl + 1;
      if (!this.addLine(line)) return;
    }
    this.partial += chunk.slice(start);
    if (this.partial.length > MAX_LINE_BYTES) this.abort(UapiErrno.IO, 'line too long');
  }

  /** Returns false if the connection was aborted. */
  private addLine(line: string): boolean {
    if (line.length > MAX_LINE_BYTES) {
      this.abort(UapiErrno.IO, 'line too long');
      return false;
    }
    if (line === '') {
      // An empty line between requests is tolerated; one after a request ends it.
      if (this.request.length > 0) this.dispatch(this.request);
      this.request = [];
      this.requestBytes = 0;
      return true;
    }
    if (this.request.length === 0 && line !== 'get=1' && line !== 'set=1') {
      // Not our protocol: answer once and hang up, as there is nothing to resynchronise on.
      this.abort(UapiErrno.PROTOCOL, `invalid UAPI operation ${JSON.stringify(line.slice(0, 40))}`);
      return false;
    }
    this.requestBytes += line.length + 1;
    if (this.requestBytes > MAX_REQUEST_BYTES) {
      this.abort(UapiErrno.IO, `request larger than ${MAX_REQUEST_BYTES} bytes`);
      return false;
    }
    this.request.push(line);
    return true;
  }

  private dispatch(request: string[]): void {
    this.queueReply(async () => {
      const operation = request[0];
      if (operation === 'get=1') {
        if (request.length > 1) return errnoReply(UapiErrno.INVALID);
        const view = viewOf(this.opts.device, this.opts.getListenPort(), this.opts.getFwmark());
        return formatGet(view);
      }
      return errnoReply(await this.set(request.slice(1)));
    });
  }

  /** Returns the errno to reply with. Nothing changes unless it is 0. */
  private async set(lines: string[]): Promise<number> {
    const req = parseSet(lines);
    if (req instanceof UapiError) {
      this.log(`UAPI set rejected: ${req.message}`);
      return req.errno;
    }
    const { opts } = this;
    // Host state first: it is what can fail, and it can be put back.
    const previousMark = opts.getFwmark();
    const markChanges = req.fwmark !== undefined && req.fwmark !== previousMark;
    if (markChanges) {
      try {
        opts.setFwmark(req.fwmark!);
      } catch (error) {
        this.log(`UAPI set: failed to update fwmark: ${(error as Error).message}`);
        return UapiErrno.PORT_IN_USE;
      }
    }
    if (req.listenPort !== undefined && req.listenPort !== opts.getListenPort()) {
      try {
        await opts.setListenPort(req.listenPort);
      } catch (error) {
        this.log(`UAPI set: failed to set listen_port ${req.listenPort}: ${(error as Error).message}`);
        if (markChanges) restoreFwmark(opts, previousMark, this.log);
        return UapiErrno.PORT_IN_USE;
      }
    }
    const deviceOnly: SetRequest = { ...req, listenPort: undefined, fwmark: undefined };
    try {
      applySet(opts.device, deviceOnly, { setListenPort: () => {}, setFwmark: () => {} });
    } catch (error) {
      // Not expected: parseSet validated everything applySet relies on.
      this.log(`UAPI set failed: ${(error as Error).stack ?? error}`);
      return UapiErrno.UNKNOWN;
    }
    return 0;
  }

  /** Queues work whose result is written back, keeping replies in request order. */
  private queueReply(produce: () => Promise<string> | string): void {
    this.lastReply = this.operations.run(async () => {
      let reply: string;
      try {
        reply = await produce();
      } catch (error) {
        this.log(`UAPI request failed: ${(error as Error).message}`);
        reply = errnoReply(UapiErrno.UNKNOWN);
      }
      if (!this.socket.destroyed && this.socket.writable) this.socket.write(reply);
    });
  }

  /** Replies with an error after any earlier replies, then closes. */
  private abort(errno: number, why: string): void {
    this.log(`UAPI: ${why}; closing the connection`);
    this.finished = true;
    this.request = [];
    this.partial = '';
    this.queueReply(() => errnoReply(errno));
    void this.lastReply.then(() => this.socket.end());
  }

  /** The client closed its side: an unfinished request is dropped, not applied. */
  private endOfInput(): void {
    if (this.finished) return;
    if (this.request.length > 0 || this.partial !== '') {
      this.abort(UapiErrno.PROTOCOL, 'connection closed in the middle of a request');
      return;
    }
    this.finished = true;
    void this.lastReply.then(() => this.socket.end());
  }
}

function restoreFwmark(opts: UapiServerOptions, mark: number, log: (msg: string) => void): void {
  try {
    opts.setFwmark(mark);
  } catch (error) {
    log(`UAPI set: could not restore fwmark ${mark}: ${(error as Error).message}`);
  }
}
