/**
 * Test scaffolding for the socat TUN bridge: throwaway network namespaces, the helper that
 * runs openSocatTun inside one, and small waiting utilities.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import readline from 'node:readline';

/** Runs a command and resolves with its exit code and output (never rejects on exit code). */
export function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Namespaces this process created, deleted on every exit path. */
const namespaces = new Set<string>();
let exitHookInstalled = false;

export function createNamespace(tag: string): string {
  const name = `wgts-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  execFileSync('ip', ['netns', 'add', name]);
  namespaces.add(name);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const ns of namespaces) deleteNamespace(ns);
    });
  }
  // A fresh namespace has lo down, and the bridge lives on 127.0.0.1.
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export function deleteNamespace(name: string): void {
  if (!namespaces.delete(name)) return;
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // Already gone.
  }
}

/** The repository root: the nearest ancestor holding both the helper source and esbuild. */
function repoRoot(): string {
  for (const start of [__dirname, process.cwd()]) {
    for (let dir = start; ; dir = dirname(dir)) {
      if (existsSync(join(dir, 'node_modules/.bin/esbuild')) &&
          existsSync(join(dir, 'test/integration/socat-tun/bridge.helper.ts'))) {
        return dir;
      }
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error('cannot find the repository root (node_modules/.bin/esbuild)');
}

/** Bundles the helper into a temporary directory; returns the .cjs path and a cleanup. */
export function buildHelper(): { path: string; cleanup: () => void } {
  const root = repoRoot();
  const dir = mkdtempSync(join(tmpdir(), 'wgts-socat-tun-'));
  const out = join(dir, 'bridge.helper.cjs');
  execFileSync(join(root, 'node_modules/.bin/esbuild'), [
    join(root, 'test/integration/socat-tun/bridge.helper.ts'),
    '--bundle', '--platform=node', '--format=cjs', `--outfile=${out}`, '--log-level=warning',
  ]);
  return { path: out, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

interface Reply { id: number; ok: boolean; value?: unknown; error?: string }
export interface PacketEvent { ev: 'packet'; name: string; hex: string }
interface ClosedEvent { ev: 'closed'; name: string; reason: string }

/** One helper process inside a namespace, spoken to over its stdin/stdout. */
export class Helper {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  readonly packets: PacketEvent[] = [];
  readonly closed: ClosedEvent[] = [];
  private waiters: Array<() => void> = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<void>;

  constructor(helperPath: string, readonly namespace: string) {
    this.child = spawn('ip', ['netns', 'exec', namespace, process.execPath, helperPath], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
    readline.createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  /** The helper's PID (`ip netns exec` execs node, so it is node's). */
  get pid(): number {
    return this.child.pid!;
  }

  private onLine(line: string): void {
    const msg = JSON.parse(line) as Reply | PacketEvent | ClosedEvent;
    if ('ev' in msg) {
      if (msg.ev === 'packet') this.packets.push(msg);
      else this.closed.push(msg);
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    } else {
      this.pending.get(msg.id)?.(msg);
      this.pending.delete(msg.id);
    }
  }

  async request(op: string, args: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, resolve);
      this.child.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n', (err) => err && reject(err));
    });
    if (!reply.ok) throw new Error(reply.error);
    return reply.value;
  }

  /** Resolves with the first event (already seen or future) that `find` picks out. */
  async waitFor<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Ends the helper politely: it closes its bridges when its stdin ends. */
  async stop(): Promise<void> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/**
 * Whether the process `pid` running `comm` is gone: no such process, a zombie nobody has
 * reaped yet (it holds nothing any more), or the PID now belongs to something else.
 */
export function processGone(pid: number, comm: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    return name !== comm || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

export async function linkExistsIn(namespace: string, name: string): Promise<boolean> {
  return (await run('ip', ['-n', namespace, 'link', 'show', 'dev', name])).code === 0;
}

/** Polls `check` until true or the deadline; returns the last result. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}
