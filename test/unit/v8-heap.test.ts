// The young-generation limit every wgts process applies at start-up (src/cli/v8-heap.ts):
// when it applies, and that it really keeps V8's new space small on this node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as v8 from 'node:v8';
import { GROWTH_FACTOR_FLAG, limitYoungGeneration, SEMI_SPACE_FLAG, youngGenerationConfigured } from '../../src/cli/v8-heap';

const CHILD = 'WGTS_V8_HEAP_TEST_CHILD';
/** Two 1 MiB semi-spaces: V8's initial young generation on 64-bit. */
const INITIAL_NEW_SPACE = 2 * 1024 * 1024;

/** Allocation with a sliding window of survivors (packets in flight): what makes V8 grow its new space. */
function churn(): number {
  const window: number[][] = new Array(20_000);
  for (let i = 0; i < 300_000; i++) window[i % window.length] = [i, i + 1, i + 2, i + 3, i + 4, i + 5, i + 6, i + 7];
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
}

/** This test file run again as a child: applies the limit as main.ts does (or not), churns, reports. */
function newSpaceOfChild(opts: { limit: boolean; nodeArgs?: string[]; nodeOptions?: string }): number {
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD]: opts.limit ? 'limit' : 'plain' };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT; // the child reports on stdout, not to a test runner
  if (opts.nodeOptions) env.NODE_OPTIONS = opts.nodeOptions;
  const r = spawnSync(process.execPath, [...(opts.nodeArgs ?? []), __filename], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

if (process.env[CHILD]) {
  if (process.env[CHILD] === 'limit') limitYoungGeneration();
  process.stdout.write(`${churn()}\n`);
} else {
  test('an explicit young-generation option, on the command line or in NODE_OPTIONS, is left alone', () => {
    assert.equal(youngGenerationConfigured([], undefined), false);
    assert.equal(youngGenerationConfigured(['--max-old-space-size=64'], '--enable-source-maps'), false);
    assert.equal(youngGenerationConfigured([SEMI_SPACE_FLAG], undefined), true);
    assert.equal(youngGenerationConfigured([], `--trace-warnings ${SEMI_SPACE_FLAG}`), true);
    assert.equal(youngGenerationConfigured(['--max_semi_space_size=8'], undefined), true);
    assert.equal(youngGenerationConfigured(['--min-semi-space-size=2'], undefined), true);
    assert.equal(youngGenerationConfigured([], '--semi-space-growth-factor=4'), true);
    assert.equal(youngGenerationConfigured(['--max-semi-space-sizes=1'], undefined), false, 'only whole option names');
  });

  test('limitYoungGeneration sets the growth factor only when nobody chose a size', () => {
    const set: string[] = [];
    assert.equal(limitYoungGeneration({ execArgv: [], nodeOptions: undefined }, (f) => set.push(f)), true);
    assert.deepEqual(set, [GROWTH_FACTOR_FLAG]);
    assert.equal(limitYoungGeneration({ execArgv: [SEMI_SPACE_FLAG], nodeOptions: undefined }, (f) => set.push(f)), false);
    assert.equal(limitYoungGeneration({ execArgv: [], nodeOptions: '--max-semi-space-size=4' }, (f) => set.push(f)), false);
    assert.deepEqual(set, [GROWTH_FACTOR_FLAG]);
  });

  test('without a limit, churn grows the new space beyond its initial size (the control)', () => {
    assert.ok(newSpaceOfChild({ limit: false }) > INITIAL_NEW_SPACE);
  });

  test('the run-time limit keeps the new space at its initial size', () => {
    assert.ok(newSpaceOfChild({ limit: true }) <= INITIAL_NEW_SPACE);
  });

  test("the wrapper's start-up flag does the same, through NODE_OPTIONS or the command line", () => {
    assert.ok(newSpaceOfChild({ limit: false, nodeOptions: SEMI_SPACE_FLAG }) <= INITIAL_NEW_SPACE);
    assert.ok(newSpaceOfChild({ limit: false, nodeArgs: [SEMI_SPACE_FLAG] }) <= INITIAL_NEW_SPACE);
  });

  test("a size chosen at start-up wins over the run-time limit", () => {
    // 4 MiB semi-spaces: the limit must not hold this process at 1 MiB.
    assert.ok(newSpaceOfChild({ limit: true, nodeOptions: '--max-semi-space-size=4' }) > INITIAL_NEW_SPACE);
  });
}
