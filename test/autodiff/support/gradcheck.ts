// Checks a gradient graph against central finite differences of the forward graph, in double-precision sums.
// L = Σ Y·U for a random upstream U; for each differentiated input x and random direction v the analytic
// ⟨∂L/∂x, v⟩ is compared with (L(x + εv) − L(x − εv)) / 2ε. For an op linear in x any ε is exact, so ε = 1
// turns the check into the adjoint identity ⟨J v, U⟩ = ⟨v, Jᵀ U⟩.
import * as ort from 'onnxruntime-node';
import { makeAttribute, type Attrs, type AttrValue } from '../../../src/autodiff/graph-builder.js';
import { buildGradientModel } from '../../../src/autodiff/gradient-model.js';
import { valueInfo } from '../../../src/autodiff/model-assembly.js';
import { encodeModel, floatTensorProto, int64TensorProto, type Model, type TensorProto } from '../../../src/autodiff/onnx-io.js';
import { createRng, type Rng } from '../../../src/util/rng.js';

export interface Operand {
  name: string;
  dims: number[];
  /** Values (default: standard normal). */
  data?: Float32Array;
  /** Held as an initializer and not differentiated. */
  constant?: boolean;
  /** An int64 constant (shapes, axes). */
  int64?: number[];
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Attrs;
}

export interface GradCheckSpec {
  nodes: NodeSpec[];
  operands: Operand[];
  output: string;
  /** Finite-difference step; ops linear in every differentiated input can use 1 (exact). */
  eps?: number;
  seed?: number;
  opset?: number;
}

export interface GradCheckResult {
  input: string;
  analytic: number;
  numeric: number;
  /** |analytic − numeric| / max(|numeric|, scale), scale = ‖∂L/∂x‖·‖v‖·1e-3 so near-orthogonal directions do not blow up. */
  relError: number;
}

/** Values spaced ≥ `step` apart in random order, never within step/2 of a multiple of `step`: kinks (0, clip bounds on the grid) and max ties stay out of an ε-ball. */
export function spacedValues(count: number, step: number, rng: Rng): Float32Array {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return Float32Array.from(order, (k) => (k - count / 2 + 0.5) * step);
}

export const randomNormal = (count: number, rng: Rng, scale = 1): Float32Array => Float32Array.from({ length: count }, () => rng.normal() * scale);

const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

function forwardModel(spec: GradCheckSpec, values: Map<string, Float32Array>, outputDims?: number[]): Model {
  const constants: TensorProto[] = spec.operands
    .filter((o) => o.constant || o.int64)
    .map((o) => (o.int64 ? int64TensorProto(o.name, o.dims, o.int64) : floatTensorProto(o.name, o.dims, values.get(o.name)!)));
  const inputs = spec.operands.filter((o) => !o.constant && !o.int64);
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: spec.opset ?? 17 }],
    graph: {
      name: 'gradcheck',
      node: spec.nodes.map((n, i) => ({
        name: `n${i}`,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {})
          .filter((e): e is [string, AttrValue] => e[1] !== undefined)
          .map(([k, v]) => makeAttribute(k, v)),
      })),
      initializer: constants,
      input: inputs.map((o) => valueInfo(o.name, o.dims)),
      output: [valueInfo(spec.output, outputDims)],
    },
  };
}

const dot = (a: Float32Array, b: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

export async function gradCheck(spec: GradCheckSpec): Promise<GradCheckResult[]> {
  const rng = createRng(spec.seed ?? 1);
  const values = new Map<string, Float32Array>();
  for (const o of spec.operands) if (!o.int64) values.set(o.name, o.data ?? randomNormal(size(o.dims), rng));
  const wrt = spec.operands.filter((o) => !o.constant && !o.int64).map((o) => o.name);
  const forward = forwardModel(spec, values);
  const inputDims = Object.fromEntries(spec.operands.filter((o) => !o.constant && !o.int64).map((o) => [o.name, o.dims]));
  const grad = await buildGradientModel(forward, { inputDims, batchInputs: [], wrt, outputs: [spec.output] });
  const outDims = grad.shapes.get(spec.output)!.dims;
  const upstream = randomNormal(size(outDims), rng);
  const options: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, logSeverityLevel: 3 };
  const gradSession = await ort.InferenceSession.create(encodeModel(grad.model), options);
  const fwdSession = await ort.InferenceSession.create(encodeModel(forwardModel(spec, values, outDims)), options);
  const feedsOf = (override?: { name: string; data: Float32Array }) =>
    Object.fromEntries(wrt.map((w) => [w, new ort.Tensor('float32', override?.name === w ? override.data : values.get(w)!, inputDims[w])]));
  const gradOut = await gradSession.run({ ...feedsOf(), [grad.upstreamInputs[spec.output]]: new ort.Tensor('float32', upstream, outDims) });
  const loss = async (name: string, data: Float32Array) => dot((await fwdSession.run(feedsOf({ name, data })))[spec.output].data as Float32Array, upstream);
  const eps = spec.eps ?? 1e-3;
  const results: GradCheckResult[] = [];
  for (const w of wrt) {
    const x = values.get(w)!;
    const g = gradOut[grad.gradOutputs[w]].data as Float32Array;
    const v = randomNormal(x.length, rng);
    const plus = Float32Array.from(x, (xi, i) => xi + eps * v[i]);
    const minus = Float32Array.from(x, (xi, i) => xi - eps * v[i]);
    const numeric = ((await loss(w, plus)) - (await loss(w, minus))) / (2 * eps);
    const analytic = dot(g, v);
    const scale = Math.sqrt(dot(g, g) * dot(v, v)) * 1e-3;
    results.push({ input: w, analytic, numeric, relError: Math.abs(analytic - numeric) / Math.max(Math.abs(numeric), scale, 1e-12) });
  }
  await gradSession.release();
  await fwdSession.release();
  return results;
}

/** The largest relative error over every differentiated input (for `expect(...).toBeLessThan`). */
export const worstError = (results: GradCheckResult[]): number => Math.max(...results.map((r) => r.relError));
