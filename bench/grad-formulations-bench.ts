/**
 * The gradient formulations the Conv and activation rules chose between, each as a one-op-family graph in
 * onnxruntime at MobileNetV2's shapes (batch 32, 224² input), rounds alternating between contenders. Every graph
 * ends in a ReduceSum so that copying a large output to JavaScript does not swamp the op. CPU time (all threads)
 * is printed beside wall time: on a shared machine it is the steadier of the two.
 *
 *   npx tsx bench/grad-formulations-bench.ts [--rounds 5]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, float } from '../src/autodiff/graph-builder.js';
import { valueInfo } from '../src/autodiff/model-assembly.js';
import { encodeModel, floatTensorProto } from '../src/autodiff/onnx-io.js';

interface Contender {
  name: string;
  inputs: { name: string; dims: number[]; constant?: boolean }[];
  build(b: GraphBuilder): string;
}

export interface FormulationTiming {
  family: string;
  name: string;
  cpuMs: number;
  wallMs: number;
}

const count = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const values = (n: number) => Float32Array.from({ length: n }, (_, k) => ((k * 7919) % 13) / 13 - 0.4);

async function compare(family: string, contenders: Contender[], rounds: number, log: (line: string) => void): Promise<FormulationTiming[]> {
  const options: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 2, interOpNumThreads: 1, logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: '1' } } } };
  const prepared = [];
  for (const c of contenders) {
    const b = new GraphBuilder([], 'bench/');
    const out = b.op('ReduceSum', [c.build(b)], { keepdims: 0 });
    const constants = c.inputs.filter((i) => i.constant).map((i) => floatTensorProto(i.name, i.dims, values(count(i.dims))));
    const model = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: { name: c.name, node: b.nodes, initializer: [...b.initializers, ...constants], input: c.inputs.filter((i) => !i.constant).map((i) => valueInfo(i.name, i.dims)), output: [valueInfo(out, [])] },
    };
    const session = await ort.InferenceSession.create(encodeModel(model), options);
    const feeds = Object.fromEntries(c.inputs.filter((i) => !i.constant).map((i) => [i.name, new ort.Tensor('float32', values(count(i.dims)), i.dims)]));
    await session.run(feeds);
    prepared.push({ c, session, feeds, cpu: [] as number[], wall: [] as number[] });
  }
  for (let r = 0; r < rounds; r++) {
    for (const p of prepared) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await p.session.run(p.feeds);
      p.wall.push(performance.now() - t0);
      const cpu = process.cpuUsage(c0);
      p.cpu.push((cpu.user + cpu.system) / 1000);
    }
  }
  log(`\n${family}`);
  const out = prepared.map((p) => ({ family, name: p.c.name, cpuMs: median(p.cpu), wallMs: median(p.wall) }));
  for (const t of out) log(`  ${t.name.padEnd(46)} ${t.cpuMs.toFixed(1).padStart(7)} CPU-ms ${t.wallMs.toFixed(1).padStart(7)} ms`);
  for (const p of prepared) await p.session.release();
  return out;
}

const flip = (b: GraphBuilder, w: string) => b.op('Slice', [w, b.int64([-1, -1]), b.int64([-(2 ** 62), -(2 ** 62)]), b.int64([2, 3]), b.int64([-1, -1])]);

export async function runGradFormulationsBench(options: { rounds?: number; log?: (line: string) => void } = {}): Promise<FormulationTiming[]> {
  const rounds = options.rounds ?? 5;
  const log = options.log ?? console.log;
  const n = 32;
  const results: FormulationTiming[] = [];
  for (const [c, h, s] of [[32, 112, 1], [144, 56, 1], [96, 112, 2], [192, 28, 1], [576, 14, 1], [960, 7, 1]] as const) {
    const ho = h / s;
    const x = [n, c, h, h];
    const w = [c, 1, 3, 3];
    const y = [n, c, ho, ho];
    const endPad = s === 2 ? 0 : 1;
    results.push(
      ...(await compare(`depthwise 3×3/${s}, ${c} channels at ${h}²`, [
        { name: 'forward, constant weights (inference)', inputs: [{ name: 'x', dims: x }, { name: 'w', dims: w, constant: true }], build: (b) => b.op('Conv', ['x', 'w'], { group: c, pads: [1, 1, 1, 1], strides: [s, s] }) },
        { name: 'forward, weights as input (training)', inputs: [{ name: 'x', dims: x }, { name: 'w', dims: w }], build: (b) => b.op('Conv', ['x', 'w'], { group: c, pads: [1, 1, 1, 1], strides: [s, s] }) },
        {
          name: 'dX ConvTranspose',
          inputs: [{ name: 'g', dims: y }, { name: 'w', dims: w }],
          build: (b) => b.op('ConvTranspose', ['g', 'w'], { group: c, pads: [1, 1, endPad, endPad], strides: [s, s], output_padding: s === 2 ? [1, 1] : undefined }),
        },
        s === 1
          ? { name: 'dX Conv with the flipped kernel', inputs: [{ name: 'g', dims: y }, { name: 'w', dims: w }], build: (b) => b.op('Conv', ['g', flip(b, 'w')], { group: c, pads: [1, 1, 1, 1] }) }
          : {
              name: 'dX zero-inserted dY, Conv with flipped kernel',
              inputs: [{ name: 'g', dims: y }, { name: 'w', dims: w }],
              build: (b) => {
                const padded = b.op('Pad', [b.reshape('g', [n, c, ho, 1, ho, 1]), b.int64([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1])]);
                return b.op('Conv', [b.reshape(padded, [n, c, h, h]), flip(b, 'w')], { group: c, pads: [1, 1, 1, 1] });
              },
            },
        ...(s === 2
          ? [
              {
                name: 'dX polyphase: multiplier-4 Conv (2×2 sub-kernels) + DepthToSpace',
                inputs: [{ name: 'g', dims: y }, { name: 'w', dims: w }],
                build: (b: GraphBuilder) => {
                  // phase p of an axis, sub-tap u → kernel tap (3 = the zero slot): even rows take tap 1, odd rows taps 2 and 0
                  const tap = [[1, 3], [2, 0]];
                  const idx: number[] = [];
                  for (const ph of [0, 1]) for (const pw of [0, 1]) for (const uh of [0, 1]) for (const uw of [0, 1]) idx.push(tap[ph][uh] === 3 || tap[pw][uw] === 3 ? 9 : tap[ph][uh] * 3 + tap[pw][uw]);
                  const kernel = b.reshape(b.op('Gather', [b.op('Pad', [b.reshape('w', [c, 9]), b.int64([0, 0, 0, 1])]), b.int64(idx, [4, 2, 2])], { axis: 1 }), [4 * c, 1, 2, 2]);
                  return b.op('DepthToSpace', [b.op('Conv', ['g', kernel], { group: c, pads: [0, 0, 1, 1] })], { blocksize: 2, mode: 'CRD' });
                },
              },
            ]
          : []),
        {
          name: 'dW batch-as-groups Conv + ReduceSum',
          inputs: [{ name: 'x', dims: x }, { name: 'g', dims: y }],
          build: (b) =>
            b.reduceSum(b.reshape(b.op('Conv', [b.reshape('x', [1, n * c, h, h]), b.reshape('g', [n * c, 1, ho, ho])], { group: n * c, dilations: [s, s], pads: [1, 1, endPad, endPad] }), [n, c, 3, 3]), [0], false),
        },
        {
          name: 'dW channel-major Conv (two transposes)',
          inputs: [{ name: 'x', dims: x }, { name: 'g', dims: y }],
          build: (b) => b.op('Conv', [b.reshape(b.transpose('x', [1, 0, 2, 3]), [1, c * n, h, h]), b.transpose('g', [1, 0, 2, 3])], { group: c, dilations: [s, s], pads: [1, 1, endPad, endPad] }),
        },
        ...(s === 1
          ? [
              {
                name: 'dW overlapping rows (full-width kernel Conv, no im2col)',
                inputs: [{ name: 'x', dims: x }, { name: 'g', dims: y }],
                build: (b: GraphBuilder) => {
                  const r = h + 2;
                  const xRows = b.reshape(b.op('Pad', [b.reshape('x', [n * c, h, h]), b.int64([0, 1, 1, 0, 2, 1])]), [1, n * c, (h + 3) * r, 1]);
                  const kernel = b.reshape(b.op('Pad', [b.reshape('g', [n * c, h, h]), b.int64([0, 0, 0, 0, 0, 2])]), [n * c, 1, h * r, 1]);
                  const corr = b.reshape(b.op('Conv', [xRows, kernel], { group: n * c }), [n * c, 3 * r + 1]);
                  const taps = b.op('Gather', [corr, b.int64([0, 1, 2, r, r + 1, r + 2, 2 * r, 2 * r + 1, 2 * r + 2])], { axis: 1 });
                  return b.reduceSum(b.reshape(taps, [n, c, 9]), [0], false);
                },
              },
            ]
          : []),
        {
          name: 'dW taps by a one-hot Conv, then MatMul with dY',
          inputs: [{ name: 'x', dims: x }, { name: 'g', dims: y }],
          build: (b) => {
            const oneHot = new Float32Array(81);
            for (let t = 0; t < 9; t++) oneHot[t * 9 + t] = 1;
            const taps = b.op('Conv', [b.reshape('x', [n * c, 1, h, h]), b.float32(oneHot, [9, 1, 3, 3])], { strides: [s, s], pads: [1, 1, endPad, endPad] });
            const prod = b.op('MatMul', [b.reshape('g', [n * c, 1, ho * ho]), b.transpose(b.reshape(taps, [n * c, 9, ho * ho]), [0, 2, 1])]);
            return b.reduceSum(b.reshape(prod, [n, c, 3, 3]), [0], false);
          },
        },
        {
          name: 'dW nine taps Slice·Mul·ReduceSum',
          inputs: [{ name: 'x', dims: x }, { name: 'g', dims: y }],
          build: (b) => {
            const xp = b.op('Pad', ['x', b.int64([0, 0, 1, 1, 0, 0, 1, 1])]);
            const taps: string[] = [];
            for (let i = 0; i < 3; i++) {
              for (let j = 0; j < 3; j++) {
                const tap = b.op('Slice', [xp, b.int64([i, j]), b.int64([i + s * (ho - 1) + 1, j + s * (ho - 1) + 1]), b.int64([2, 3]), b.int64([s, s])]);
                taps.push(b.reduceSum(b.op('Mul', [tap, 'g']), [0, 2, 3], false));
              }
            }
            return b.op('Concat', taps, { axis: 0 });
          },
        },
      ], rounds, log)),
    );
  }
  for (const [c, m, h] of [[16, 96, 112], [144, 24, 56], [576, 96, 14], [320, 1280, 7]] as const) {
    const p = h * h;
    const x = [n, c, h, h];
    const w = [m, c, 1, 1];
    const y = [n, m, h, h];
    results.push(
      ...(await compare(`pointwise ${c}→${m} at ${h}²`, [
        { name: 'dX MatMul Wᵀ·dY', inputs: [{ name: 'g', dims: y }, { name: 'w', dims: w }], build: (b) => b.op('MatMul', [b.transpose(b.reshape('w', [m, c]), [1, 0]), b.reshape('g', [n, m, p])]) },
        { name: 'dX Conv(dY, Wᵀ)', inputs: [{ name: 'g', dims: y }, { name: 'w', dims: w }], build: (b) => b.op('Conv', ['g', b.reshape(b.transpose(b.reshape('w', [m, c]), [1, 0]), [c, m, 1, 1])]) },
        { name: 'dX ConvTranspose(dY, W)', inputs: [{ name: 'g', dims: y }, { name: 'w', dims: w }], build: (b) => b.op('ConvTranspose', ['g', 'w']) },
        { name: 'dW batched MatMul(dY, Xᵀ) + ReduceSum', inputs: [{ name: 'x', dims: x }, { name: 'g', dims: y }], build: (b) => b.reduceSum(b.op('MatMul', [b.reshape('g', [n, m, p]), b.transpose(b.reshape('x', [n, c, p]), [0, 2, 1])]), [0], false) },
        {
          name: 'dW channel-major Gemm',
          inputs: [{ name: 'x', dims: x }, { name: 'g', dims: y }],
          build: (b) => b.op('Gemm', [b.reshape(b.transpose(b.reshape('g', [n, m, p]), [1, 0, 2]), [m, n * p]), b.reshape(b.transpose(b.reshape('x', [n, c, p]), [1, 0, 2]), [c, n * p])], { transB: 1 }),
        },
        { name: 'dW Einsum nmp,ncp->mc', inputs: [{ name: 'x', dims: x }, { name: 'g', dims: y }], build: (b) => b.op('Einsum', [b.reshape('g', [n, m, p]), b.reshape('x', [n, c, p])], { equation: 'nmp,ncp->mc' }) },
      ], rounds, log)),
    );
  }
  const big = [n, 96, 112, 112];
  const io = [{ name: 'y', dims: big }, { name: 'g', dims: big }];
  const step = (b: GraphBuilder, v: string) => b.op('HardSigmoid', [v], { alpha: float(1e37), beta: float(0) });
  results.push(
    ...(await compare('ReLU6 / Relu backward mask on [32, 96, 112, 112]', [
      { name: 'ReLU6: Where(And(Greater, Less), dY, 0)', inputs: io, build: (b) => b.op('Where', [b.op('And', [b.op('Greater', ['y', b.scalar(0)]), b.op('Less', ['y', b.scalar(6)])]), 'g', b.scalar(0)]) },
      { name: 'ReLU6: dY·Cast(And(Greater, Less))', inputs: io, build: (b) => b.op('Mul', ['g', b.op('Cast', [b.op('And', [b.op('Greater', ['y', b.scalar(0)]), b.op('Less', ['y', b.scalar(6)])])], { to: 1 })]) },
      { name: 'ReLU6: dY·HardSigmoid(−2¹⁰⁰·Shrink(y, 0, 6))', inputs: io, build: (b) => b.op('Mul', ['g', b.op('HardSigmoid', [b.op('Shrink', ['y'], { lambd: float(0), bias: float(6) })], { alpha: float(-(2 ** 100)), beta: float(0) })]) },
      { name: 'ReLU6: dY·HardSigmoid(|y − 3|) (Sub, Abs)', inputs: io, build: (b) => b.op('Mul', ['g', b.op('HardSigmoid', [b.op('Abs', [b.op('Sub', ['y', b.scalar(3)])])], { alpha: float(-(2 ** 100)), beta: float(3 * 2 ** 100) })]) },
      { name: 'ReLU6: dY·HardSigmoid(y·(6−y)) (chosen)', inputs: io, build: (b) => b.op('Mul', ['g', step(b, b.op('Mul', ['y', b.op('Sub', [b.scalar(6), 'y'])]))]) },
      { name: 'Relu: dY·Cast(Greater(y, 0))', inputs: io, build: (b) => b.op('Mul', ['g', b.op('Cast', [b.op('Greater', ['y', b.scalar(0)])], { to: 1 })]) },
      { name: 'Relu: dY·HardSigmoid(y) (chosen)', inputs: io, build: (b) => b.op('Mul', ['g', step(b, 'y')]) },
      { name: 'reference: one Mul of the two', inputs: io, build: (b) => b.op('Mul', ['g', 'y']) },
    ], rounds, log)),
  );
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--rounds');
  runGradFormulationsBench({ rounds: i >= 0 ? Number(process.argv[i + 1]) : undefined }).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
