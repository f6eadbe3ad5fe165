/**
 * The web server of the LuCI test harness: a stand-in for uhttpd serving /www
 * and its ubus JSON-RPC endpoint (uhttpd-mod-ubus) with rpcd behind it.
 *
 *  /                          index.html (the page LuCI's template would render)
 *  /harness/*                 boot.js, harness.css
 *  /luci-static/resources/*   the wgts package's LuCI files (luci-view/htdocs), else
 *                             this harness's stand-ins for LuCI's own modules
 *  POST /ubus/                JSON-RPC 2.0 "call" [session, object, method, args],
 *                             answered { result: [status, data?] } as uhttpd-mod-ubus does
 *
 * Access control follows rpcd's for a session holding the package's ACL
 * (luci-view/root/usr/share/rpcd/acl.d): a call to an object and method no group
 * grants under "ubus" is refused with JSON-RPC error -32002 "Access denied";
 * the `uci` object (which luci-base grants) is answered by a MemoryUci, reading
 * a config needs it under "uci" in "read" (or "write"), changing it under
 * "write". Every call is recorded, so a test can compare what the pages used
 * with what the ACL grants. Other objects go to the `ubus` callback: the tests
 * pass calls on to a running wgts daemon.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { MemoryUci, UciCallError } from './uci-store';

export interface UbusAnswer {
  status: number;
  data?: unknown;
}

export type UbusBackend = (object: string, method: string, args: Record<string, unknown>) => Promise<UbusAnswer>;

export interface RecordedCall {
  object: string;
  method: string;
  args: Record<string, unknown>;
  allowed: boolean;
}

export interface AclGroup {
  description?: string;
  read?: { ubus?: Record<string, string[]>; uci?: string[] };
  write?: { ubus?: Record<string, string[]>; uci?: string[] };
}

export interface LuciHarness {
  readonly url: string;
  readonly calls: RecordedCall[];
  readonly uci: MemoryUci;
  close(): Promise<void>;
}

export interface LuciHarnessOptions {
  repoRoot: string;
  uci: MemoryUci;
  ubus: UbusBackend;
  /** ACL files granted to the session; default: the package's acl.d. */
  aclFiles?: string[];
}

const HARNESS_DIR = 'test/luci/harness';
const UBUS_PERMISSION_DENIED = 6;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

export function packageAclFiles(repoRoot: string): string[] {
  const dir = path.join(repoRoot, 'luci-view/root/usr/share/rpcd/acl.d');
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f));
}

export function readAcl(files: string[]): Record<string, AclGroup> {
  const groups: Record<string, AclGroup> = {};
  for (const file of files) Object.assign(groups, JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, AclGroup>);
  return groups;
}

/** luci-lib-uqr's stand-in module with the npm uqr library bundled into it (see resources/uqr.js). */
function uqrModule(repoRoot: string): string {
  const template = fs.readFileSync(path.join(repoRoot, HARNESS_DIR, 'resources/uqr.js'), 'utf8');
  const built = spawnSync(path.join(repoRoot, 'node_modules/.bin/esbuild'), [
    path.join(repoRoot, 'node_modules/uqr/dist/index.mjs'), '--bundle', '--format=iife', '--global-name=__uqr', '--log-level=warning',
  ], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`cannot bundle the uqr library (npm install uqr): ${built.stderr}`);
  const marker = '/* UQR_LIBRARY */\n\treturn null;';
  if (!template.includes(marker)) throw new Error('resources/uqr.js lost its UQR_LIBRARY marker');
  return template.replace(marker, () => `${built.stdout}\nreturn __uqr;`);
}

export async function startLuciHarness(options: LuciHarnessOptions): Promise<LuciHarness> {
  const { repoRoot, uci } = options;
  const acl = readAcl(options.aclFiles ?? packageAclFiles(repoRoot));
  const calls: RecordedCall[] = [];
  const uqr = uqrModule(repoRoot);
  const roots = [path.join(repoRoot, 'luci-view/htdocs'), path.join(repoRoot, HARNESS_DIR)];

  const granted = (object: string, method: string): boolean =>
    Object.values(acl).some((g) => [g.read?.ubus, g.write?.ubus].some((ubus) => (ubus?.[object] ?? []).some((m) => m === method || m === '*')));
  const uciAccess = (config: string, write: boolean): boolean =>
    Object.values(acl).some((g) => (g.write?.uci ?? []).includes(config) || (!write && (g.read?.uci ?? []).includes(config)));

  async function call(object: string, method: string, args: Record<string, unknown>): Promise<UbusAnswer | 'denied'> {
    if (object === 'uci') {
      const config = String(args.config ?? '');
      const write = method !== 'get';
      if (!uciAccess(config, write)) return { status: UBUS_PERMISSION_DENIED };
      try {
        switch (method) {
          case 'get':
            return { status: 0, data: uci.get(config) };
          case 'add':
            return { status: 0, data: uci.add(config, String(args.type), args.name === undefined ? undefined : String(args.name), args.values as Record<string, unknown>) };
          case 'set':
            return { status: 0, data: uci.set(config, String(args.section), args.values as Record<string, unknown>) };
          case 'delete':
            return { status: 0, data: uci.delete(config, String(args.section), args.options as string[] | undefined) };
          default:
            return { status: 3 };
        }
      } catch (err) {
        if (err instanceof UciCallError) return { status: err.status };
        throw err;
      }
    }
    if (!granted(object, method)) return 'denied';
    return options.ubus(object, method, args);
  }

  async function rpc(body: unknown): Promise<unknown> {
    const request = body as { id?: unknown; method?: string; params?: unknown[] };
    const reply = (x: object) => ({ jsonrpc: '2.0', id: request.id ?? null, ...x });
    if (request.method !== 'call' || !Array.isArray(request.params) || request.params.length < 3) {
      return reply({ error: { code: -32600, message: 'Invalid request' } });
    }
    const [, object, method, args] = request.params as [string, string, string, Record<string, unknown> | undefined];
    const answer = await call(object, method, args ?? {});
    calls.push({ object, method, args: args ?? {}, allowed: answer !== 'denied' && answer.status !== UBUS_PERMISSION_DENIED });
    if (answer === 'denied') return reply({ error: { code: -32002, message: 'Access denied' } });
    return reply({ result: answer.data === undefined ? [answer.status] : [answer.status, answer.data] });
  }

  function serveFile(res: http.ServerResponse, urlPath: string): void {
    if (urlPath === '/luci-static/resources/uqr.js') {
      res.writeHead(200, { 'Content-Type': TYPES['.js']! }).end(uqr);
      return;
    }
    const relative = urlPath === '/' ? 'index.html'
      : urlPath.startsWith('/harness/') ? urlPath.slice('/harness/'.length)
      : urlPath.startsWith('/luci-static/resources/') ? path.join('resources', urlPath.slice('/luci-static/resources/'.length))
      : undefined;
    const candidates = relative === undefined ? []
      : relative.startsWith('resources/')
        // The package's files win over the stand-ins; a LuCI module is looked up under luci-static/.
        ? [path.join(roots[0]!, 'luci-static', relative), path.join(roots[1]!, relative)]
        : [path.join(roots[1]!, relative)];
    const file = candidates.find((f) => !path.relative(repoRoot, f).startsWith('..') && fs.existsSync(f) && fs.statSync(f).isFile());
    if (!file) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  }

  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://harness').pathname);
    if (urlPath === '/ubus/' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }));
          return;
        }
        const handle = Array.isArray(body) ? Promise.all(body.map(rpc)) : rpc(body);
        handle.then(
          (out) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(out)),
          (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(err.message),
        );
      });
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    serveFile(res, urlPath);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    uci,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
