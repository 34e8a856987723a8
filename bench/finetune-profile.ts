/**
 * Where a training step's time goes: onnxruntime's own profile of the step graph (MobileNetV2, full or last:2),
 * kernel times summed per role — forward ops by kind (depthwise, pointwise, stem convs, activations), each
 * gradient rule's nodes by the kind of forward node they differentiate and their own op, the optimizer and
 * parameter unpacking. Backward nodes carry their forward node in their name (`train/grad(<node>)/…`).
 *
 *   npx tsx bench/finetune-profile.ts [--mode full|last2] [--batch 32] [--size 224] [--warmup 3] [--steps 3] [--top 30]
 *                                     [--detail ROLE-TEXT]
 *                                     [--save-optimized FILE]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { resolveTrainable, splitLayerGroups } from '../src/autodiff/blocks.js';
import { withHeadParams } from '../src/autodiff/fine-tuner.js';
import { dataInputs } from '../src/autodiff/model-assembly.js';
import { decodeModel, encodeModel, floatInitializers, graphOf, type Model, type NodeProto } from '../src/autodiff/onnx-io.js';
import { packBucket } from '../src/autodiff/param-layout.js';
import { untieInitializerAliases } from '../src/autodiff/parameters.js';
import { inferStaticShapes } from '../src/autodiff/static-shapes.js';
import { HEAD_WEIGHT, STEP_IO, buildStepGraph } from '../src/autodiff/step-graph.js';
import { attrInt } from '../src/autodiff/attributes.js';

export interface ProfileOptions {
  mode?: 'full' | 'last2';
  batch?: number;
  size?: number;
  steps?: number;
  /** Runs before the counted ones: the first few are several times slower (buffers being allocated and touched). */
  warmup?: number;
  top?: number;
  modelPath?: string;
  saveOptimized?: string;
  /** Also list every node whose role contains this text, with its output shapes. */
  detail?: string;
  session?: ort.InferenceSession.SessionOptions;
  log?: (line: string) => void;
}

export interface ProfileRow {
  role: string;
  ms: number;
  share: number;
  calls: number;
}

/** The kind of a forward node: Conv by kernel and groups, anything else by its op. */
function kindOf(node: NodeProto | undefined): string {
  if (!node) return 'other';
  if (node.opType !== 'Conv') return node.opType!;
  const group = attrInt(node, 'group', 1);
  const kernel = node.attribute?.find((a) => a.name === 'kernel_shape')?.ints?.map(Number) ?? [];
  const strides = node.attribute?.find((a) => a.name === 'strides')?.ints?.map(Number) ?? [1, 1];
  const tag = kernel.every((k) => k === 1) ? 'pointwise' : group > 1 ? 'depthwise' : 'dense';
  return `Conv ${tag}${strides.some((s) => s > 1) ? '/2' : ''}`;
}

export async function profileStep(options: ProfileOptions = {}): Promise<ProfileRow[]> {
  const log = options.log ?? console.log;
  const batch = options.batch ?? 32;
  const size = options.size ?? 224;
  const steps = options.steps ?? 3;
  const warmup = options.warmup ?? 3;
  const modelPath = options.modelPath ?? resolve('../shared/models/mobilenetv2/model.onnx');
  const model: Model = untieInitializerAliases(decodeModel(readFileSync(modelPath), modelPath));
  const input = dataInputs(graphOf(model))[0].name!;
  const inputDims = [batch, 3, size, size];
  const shapes = await inferStaticShapes(model, { inputs: { [input]: inputDims } });
  const trainable = resolveTrainable(model, options.mode === 'last2' ? { last: 2 } : 'all', { input, features: 'features' });
  const groups = withHeadParams(splitLayerGroups(trainable.blocks, Math.min(3, trainable.blocks.length)));
  const step = buildStepGraph(model, { input, inputDims, features: 'features', classes: 4, groups, labelSmoothing: 0.1, beta2: 0.99, eps: 1e-5, shapes });
  const forwardNodes = new Map((graphOf(model).node ?? []).map((n) => [n.name || n.output![0], n]));

  const folder = mkdtempSync(join(tmpdir(), 'lensemble-profile-'));
  try {
    const session = await ort.InferenceSession.create(encodeModel(step.model), {
      intraOpNumThreads: 2,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      extra: { session: { intra_op: { allow_spinning: '1', spin_duration_us: '20' } } },
      ...options.session,
      enableProfiling: true,
      profileFilePrefix: join(folder, 'step'),
      ...(options.saveOptimized ? { optimizedModelFilePath: options.saveOptimized } : {}),
    });
    const feeds: Record<string, ort.Tensor> = {
      [input]: new ort.Tensor('float32', Float32Array.from({ length: batch * 3 * size * size }, (_, k) => Math.sin(k)), inputDims),
      [STEP_IO.labels]: new ort.Tensor('int64', BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % 4)), [batch]),
      [STEP_IO.lr]: new ort.Tensor('float32', new Float32Array(step.layout.groups).fill(1e-4), [step.layout.groups]),
      [STEP_IO.beta1]: new ort.Tensor('float32', Float32Array.of(0.9), []),
      [STEP_IO.weightDecay]: new ort.Tensor('float32', Float32Array.of(0.01), []),
      [STEP_IO.step]: new ort.Tensor('float32', Float32Array.of(1), []),
    };
    const initial = floatInitializers(model);
    const head = (name: string) => new Float32Array(name === HEAD_WEIGHT ? 4 * 1280 : 4).map((_, k) => 0.02 * Math.sin(k));
    for (const bucket of step.layout.buckets) {
      const data = packBucket(bucket, (name) => initial.get(name)?.data ?? head(name));
      feeds[STEP_IO.param(bucket.id)] = new ort.Tensor('float32', data, [bucket.length]);
      feeds[STEP_IO.expAvg(bucket.id)] = new ort.Tensor('float32', new Float32Array(bucket.length), [bucket.length]);
      feeds[STEP_IO.expAvgSq(bucket.id)] = new ort.Tensor('float32', new Float32Array(bucket.length), [bucket.length]);
    }
    for (let s = 0; s < warmup + steps; s++) await session.run(feeds);
    session.endProfiling();
    await session.release();
    const file = readFileSync(join(folder, readdirSync(folder).find((f) => f.endsWith('.json'))!), 'utf8');
    const events = JSON.parse(file) as { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string; output_type_shape?: Record<string, number[]>[] } }[];
    const runEvents = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
    log(`runs (ms): ${runEvents.map((e) => (e.dur / 1000).toFixed(0)).join(' ')}; the first ${warmup} not counted`);
    const counted = runEvents.slice(warmup);
    const runs = counted.map((e) => e.dur);
    const inCountedRun = (ts: number) => counted.some((r) => ts >= r.ts && ts <= r.ts + r.dur);
    const perRole = new Map<string, { us: number; calls: number }>();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !inCountedRun(e.ts)) continue;
      const name = e.name.slice(0, -'_kernel_time'.length);
      const op = e.args?.op_name ?? '?';
      const grad = /^train\/grad\((.*?)\)\/(?:(dX|dW|dB)\/)?/.exec(name);
      let role: string;
      if (grad) role = `bwd ${kindOf(forwardNodes.get(grad[1]))}${grad[2] ? ` ${grad[2]}` : ''}: ${op}`;
      else if (name.startsWith('train/')) role = `step ${op}`;
      else {
        const base = forwardNodes.get(name) ?? [...forwardNodes.entries()].find(([k]) => name.startsWith(k))?.[1];
        role = `fwd ${kindOf(base)}${base && base.opType !== op ? ` (${op})` : ''}`;
      }
      if (options.detail && role.includes(options.detail)) {
        const out = e.args?.output_type_shape?.map((o) => JSON.stringify(Object.values(o)[0])).join(' ');
        log(`    ${role} ${name} ${(e.dur / 1000).toFixed(1)} ms → ${out}`);
      }
      const r = perRole.get(role) ?? { us: 0, calls: 0 };
      r.us += e.dur;
      r.calls++;
      perRole.set(role, r);
    }
    const total = [...perRole.values()].reduce((a, r) => a + r.us, 0);
    const rows = [...perRole.entries()]
      .map(([role, r]) => ({ role, ms: r.us / 1000 / runs.length, share: r.us / total, calls: r.calls / runs.length }))
      .sort((a, b) => b.ms - a.ms);
    log(`${options.mode ?? 'full'} step, batch ${batch} at ${size}²: run ${(runs.reduce((a, b) => a + b, 0) / runs.length / 1000).toFixed(0)} ms (wall, mean of ${runs.length}); kernels ${(total / 1000 / runs.length).toFixed(0)} ms per run`);
    for (const r of rows.slice(0, options.top ?? 30)) log(`  ${r.role.padEnd(44)} ${r.ms.toFixed(1).padStart(8)} ms ${(100 * r.share).toFixed(1).padStart(5)} %  ${r.calls.toFixed(0).padStart(4)} nodes`);
    return rows;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): ProfileOptions {
  const options: ProfileOptions = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--mode') options.mode = value as ProfileOptions['mode'];
    else if (flag === '--batch') options.batch = Number(value);
    else if (flag === '--size') options.size = Number(value);
    else if (flag === '--steps') options.steps = Number(value);
    else if (flag === '--warmup') options.warmup = Number(value);
    else if (flag === '--top') options.top = Number(value);
    else if (flag === '--model') options.modelPath = value;
    else if (flag === '--save-optimized') options.saveOptimized = value;
    else if (flag === '--detail') options.detail = value;
    else throw new Error(`finetune-profile: unknown option ${flag}`);
  }
  return options;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  profileStep(parseArgs(process.argv.slice(2))).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
