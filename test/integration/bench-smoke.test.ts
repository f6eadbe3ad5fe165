/**
 * `make bench --smoke`, as CI's short run of the benchmark: the harness itself must
 * keep working (both implementations brought up, every figure measured, the JSON
 * complete and consistent with the ratios). It asserts no timing: figures only have
 * to exist and be plausible in kind (positive rates, sizes, RSS), never fast enough.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../helpers/netns';

const skip = process.getuid?.() === 0 ? false : 'needs root for network namespaces';

test('bench smoke: every figure of both implementations is measured and the ratios follow from them', { skip, timeout: 300_000 }, () => {
  const root = repoRoot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wgts-bench-smoke-'));
  try {
    const script = path.join(dir, 'run.cjs');
    const build = spawnSync(path.join(root, 'node_modules/.bin/esbuild'), [
      path.join(root, 'bench/run.ts'), '--bundle', '--platform=node', '--format=cjs', `--outfile=${script}`, '--log-level=warning',
    ], { encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    const run = spawnSync(process.execPath, [script, '--smoke'], { encoding: 'utf8', timeout: 280_000, cwd: root });
    assert.equal(run.status, 0, `exit ${run.status}\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`);
    const jsonLine = run.stdout.trim().split('\n').pop()!;
    const result = JSON.parse(jsonLine) as {
      wgts: Record<string, number | null>;
      wireguardGo: Record<string, number | null>;
      ratio: Record<string, number | null>;
      wgtsErrors: string[];
      wireguardGoErrors: string[];
    };
    assert.deepEqual(result.wgtsErrors, []);
    assert.deepEqual(result.wireguardGoErrors, []);
    for (const [key, value] of Object.entries(result.wgts)) {
      assert.equal(typeof value, 'number', `wgts ${key} measured`);
      if (!/Retransmits|LossPercent/.test(key)) assert.ok(value! > 0, `wgts ${key} = ${value} is positive`);
    }
    for (const [key, value] of Object.entries(result.wireguardGo)) {
      if (key === 'handshakesPerSecondNoble') continue; // wgts only
      assert.equal(typeof value, 'number', `wireguard-go ${key} measured`);
    }
    const ratio = (key: string, ref = key) => result.wgts[key]! / result.wireguardGo[ref]!;
    assert.ok(Math.abs(result.ratio.tcpAtoBMbps! - ratio('tcpAtoBMbps')) < 0.01, 'TCP ratio');
    assert.ok(Math.abs(result.ratio.handshakesPerSecondNoble! - ratio('handshakesPerSecondNoble', 'handshakesPerSecond')) < 0.01, 'noble ratio against the native reference');
    // The table a reader sees carries the same figures.
    assert.match(run.stdout, /TCP A→B \(Mbit\/s\)\s+[\d.]+\s+[\d.]+\s+[\d.]+/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
