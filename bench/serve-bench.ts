// `npx tsx bench/serve-bench.ts [--seconds=8] [--member=squeezenet1_1,size=128,views=0]`: `lensemble serve` under
// load on loopback. A rice model (default: the demo's MobileNetV2 member, fastai TTA) in its own process, 8 keep-alive connections each posting one rice
// photo after another: photos never seen before (real inference) and one repeated photo (features from the
// cache), with and without TTA; a ninth client polls /healthz throughout. Each phase runs a fixed time.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseMemberString } from '../src/ensemble/member-spec.js';
import { train } from '../src/pipeline/train.js';
import { RICE_LABELS, riceSubset } from '../test/support/rice.js';
import { sharedPath } from '../test/support/shared.js';

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface ServePhaseResult {
  phase: string;
  tta: boolean;
  images: 'unique' | 'repeated';
  seconds: number;
  requests: number;
  failed: number;
  requestsPerSecond: number;
  /** Milliseconds per POST /api/predict, as the client saw it. */
  latency: LatencySummary;
  /** Milliseconds per GET /healthz polled during the phase. */
  healthz: LatencySummary;
}

export interface ServeBenchResult {
  model: string;
  connections: number;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
  phases: ServePhaseResult[];
}

export interface ServeBenchOptions {
  /** Seconds per phase (default 8). */
  seconds?: number;
  connections?: number;
  /** The model's one member (default: the demo's, without training views). */
  member?: string;
  log?: (line: string) => void;
}

const DEFAULT_MEMBER = 'mobilenetv2_100,views=0'; // the demo's member (224 px, fastai TTA); training views do not change serving cost

function summarise(millis: number[]): LatencySummary {
  const sorted = [...millis].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN };
}

/** One HTTP exchange on the shared keep-alive agent; resolves with the status and the milliseconds it took. */
function exchange(agent: Agent, port: number, method: string, path: string, body?: Buffer): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const headers = body ? { 'Content-Type': 'image/jpeg', 'Content-Length': String(body.length) } : {};
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => done({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** `lensemble serve` from source (of the checkout at `root`) in a child process; resolves with it and its port once it listens. */
export async function startServe(model: string, cacheDir: string, tta: boolean, root = '.'): Promise<{ child: ChildProcess; port: number }> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const args = ['--import', tsx, resolve(root, 'test/support/cli-entry.ts'), 'serve', '--model', model, '--port', '0', '--cache-dir', cacheDir, '--quiet', ...(tta ? [] : ['--no-tta'])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LENSEMBLE_QUIET: '1' } });
  let out = '';
  const port = await new Promise<number>((done, fail) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) done(Number(m[1]));
    });
    child.on('exit', (code) => fail(new Error(`lensemble serve exited (${code}) before listening: ${out}`)));
  });
  return { child, port };
}

export async function stopServe(child: ChildProcess): Promise<void> {
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await exited;
}

/**
 * Posts photos for `seconds` from `connections` clients: `next()` gives each request its photo. Meanwhile
 * another client asks for /healthz every 50 ms.
 */
export async function loadPhase(port: number, seconds: number, connections: number, next: () => Buffer | undefined) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections + 1 });
  const latencies: number[] = [];
  const health: number[] = [];
  let failed = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const client = async () => {
    for (let body = next(); body && performance.now() < end; body = next()) {
      const r = await exchange(agent, port, 'POST', '/api/predict', body);
      if (r.status === 200) latencies.push(r.ms);
      else failed++;
    }
  };
  const poller = async () => {
    while (performance.now() < end) {
      health.push((await exchange(agent, port, 'GET', '/healthz')).ms);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await Promise.all([...Array.from({ length: connections }, client), poller()]);
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return { seconds: elapsed, requests: latencies.length, failed, requestsPerSecond: latencies.length / elapsed, latency: summarise(latencies), healthz: summarise(health) };
}

export async function runServeBench(options: ServeBenchOptions = {}): Promise<ServeBenchResult> {
  const log = options.log ?? console.log;
  const seconds = options.seconds ?? 8;
  const connections = options.connections ?? 8;
  const member = options.member ?? DEFAULT_MEMBER;
  const work = mkdtempSync(join(tmpdir(), 'lensemble-serve-bench-'));
  const loadAverageBefore = loadavg();
  try {
    const model = join(work, 'model');
    const trainCache = join(work, 'train-cache');
    await train({ data: riceSubset(join(work, 'data'), 40), members: [parseMemberString(member)], out: model, cacheDir: trainCache, seed: 1, progress: false });
    // Every rice photo the model was not trained on, the four classes taken in turn.
    const unseen = RICE_LABELS.map((label) => {
      const trained = new Set(readdirSync(join(work, 'data', label)));
      return readdirSync(sharedPath('data', 'rice-leaf', label)).sort().filter((f) => !trained.has(f)).map((f) => sharedPath('data', 'rice-leaf', label, f));
    });
    const pool: Buffer[] = [];
    for (let i = 0; unseen.some((files) => i < files.length); i++) for (const files of unseen) if (i < files.length) pool.push(readFileSync(files[i]));
    log(`serve bench: ${member} on ${pool.length} unseen rice photos (mean ${Math.round(pool.reduce((s, b) => s + b.length, 0) / pool.length / 1024)} KB), ${connections} connections, ${seconds} s per phase, ${cpus().length} cores, load average ${loadAverageBefore.map((l) => l.toFixed(1)).join(' ')}`);
    const phases: ServePhaseResult[] = [];
    for (const tta of [true, false]) {
      // A fresh feature cache per server: no photo of the unique phase has features yet.
      const { child, port } = await startServe(model, join(work, `serve-cache-${tta}`), tta);
      try {
        let k = 0;
        const warm = pool.slice(0, 16);
        await loadPhase(port, 2, connections, () => warm[k++ % warm.length]);
        let u = 16;
        const unique = await loadPhase(port, seconds, connections, () => pool[u++]);
        const repeated = pool[0]; // cached since the warm-up
        const again = await loadPhase(port, seconds, connections, () => repeated);
        for (const [images, r] of [['unique', unique], ['repeated', again]] as const) {
          const phase: ServePhaseResult = { phase: `${images} images, TTA ${tta ? 'on' : 'off'}`, tta, images, ...r };
          phases.push(phase);
          log(
            `${phase.phase.padEnd(28)} ${r.requestsPerSecond.toFixed(1).padStart(7)} req/s  p50 ${r.latency.p50.toFixed(1)} ms  p99 ${r.latency.p99.toFixed(1)} ms` +
              `  (${r.requests} requests${r.failed ? `, ${r.failed} failed` : ''})  /healthz p50 ${r.healthz.p50.toFixed(1)} ms p99 ${r.healthz.p99.toFixed(1)} ms max ${r.healthz.max.toFixed(1)} ms`,
          );
          if (images === 'unique' && u >= pool.length) log('  (ran out of unseen photos before the phase ended)');
        }
      } finally {
        await stopServe(child);
      }
    }
    const loadAverageAfter = loadavg();
    log(`load average after: ${loadAverageAfter.map((l) => l.toFixed(1)).join(' ')}`);
    return { model: member, connections, loadAverageBefore, loadAverageAfter, phases };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  await runServeBench({ seconds: Number(flag('seconds') ?? 8), member: flag('member') });
}
