/**
 * The daemon's control socket: how `wgts ifup/ifdown/reload` (and the netifd
 * proto handler through them) talk to the one `wgts daemon` process.
 * One JSON object per line each way: {"command":"ifup","interface":"wg0"} →
 * {"ok":true} or {"ok":false,"error":"…"}.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import * as net from 'node:net';
import { dirname } from 'node:path';
import { removeStaleSocket } from '../platform/node/unix-socket';

export const DEFAULT_CONTROL_SOCKET = '/var/run/wgts/control.sock';
/** Requests are tiny; anything bigger is a confused or hostile client. */
const MAX_REQUEST_BYTES = 64 * 1024;

export interface ControlRequest {
  command: string;
  interface?: string;
}

export type ControlReply = { ok: true; [key: string]: unknown } | { ok: false; error: string };

export type ControlHandler = (request: ControlRequest) => Promise<ControlReply>;

/** Serves the control socket (root only, mode 0600). */
export async function serveControl(path: string, handler: ControlHandler): Promise<{ close(): Promise<void> }> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  await removeStaleSocket(path, 'another wgts daemon is already running');
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_REQUEST_BYTES) {
        socket.end(JSON.stringify({ ok: false, error: 'request too large' }) + '\n');
        return;
      }
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        void answer(line).then((reply) => {
          if (!socket.destroyed) socket.write(JSON.stringify(reply) + '\n');
        });
      }
    });
  });
  async function answer(line: string): Promise<ControlReply> {
    let request: ControlRequest;
    try {
      request = JSON.parse(line) as ControlRequest;
      if (typeof request?.command !== 'string') throw new Error('missing "command"');
    } catch (err) {
      return { ok: false, error: `bad request: ${(err as Error).message}` };
    }
    try {
      return await handler(request);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return {
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Sends one request to the daemon and returns its reply. */
export function sendControl(path: string, request: ControlRequest, timeoutMs = 30_000): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let buffered = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from the wgts daemon on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      socket.end();
      try {
        resolve(JSON.parse(buffered.slice(0, newline)) as ControlReply);
      } catch {
        reject(new Error('the wgts daemon sent an unreadable reply'));
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is `wgts daemon` running?)' : '';
      reject(new Error(`cannot reach the wgts daemon on ${path}: ${err.code ?? err.message}${hint}`));
    });
  });
}
