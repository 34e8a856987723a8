// The static shape of every value of a graph at a fixed batch size, learnt from ONNX Runtime itself: the graph is
// run at batch 1 and 2 with every intermediate exposed as an output, and each axis is either constant or
// proportional to the batch (anything else is reported, since the backward graph is built for fixed shapes).
// Small graphs without a batch axis run once at the given dims.
import * as ort from 'onnxruntime-node';
import { LensembleError } from '../util/errors.js';
import { elementCount, encodeModel, graphOf, tensorDims, type Model } from './onnx-io.js';

export interface ValueShape {
  dims: number[];
  /** ONNX Runtime's tensor type name ('float32', 'int64', …). */
  type: string;
  /**
   * For small int64 values the same at every batch size (shape arithmetic: Slice starts, Gather indices), their
   * value: rules read it as a constant, so exporter-computed starts and indices need no constant folding pass.
   */
  int64Value?: number[];
}
export type ShapeMap = ReadonlyMap<string, ValueShape>;

export interface ShapeOptions {
  /** Graph input name → dims at the wanted batch size (batch = axis 0). */
  inputs: Record<string, readonly number[]>;
  /** Inputs whose axis 0 is the batch (default: every data input); [] runs once at exactly the given dims. */
  batchInputs?: readonly string[];
  source?: string;
}

export async function inferStaticShapes(model: Model, options: ShapeOptions): Promise<Map<string, ValueShape>> {
  const source = options.source ?? 'model';
  const graph = graphOf(model, source);
  const initNames = new Set((graph.initializer ?? []).map((t) => t.name!));
  const realInputs = (graph.input ?? []).filter((i) => !initNames.has(i.name!));
  for (const input of realInputs) {
    if (!options.inputs[input.name!]) throw new LensembleError(`no dims given for graph input ${input.name}`, source);
  }
  const batched = new Set(options.batchInputs ?? realInputs.map((i) => i.name!));
  const batch = realInputs.find((i) => batched.has(i.name!)) ? options.inputs[realInputs.find((i) => batched.has(i.name!))!.name!][0] : 1;
  const exposed = new Set((graph.output ?? []).map((o) => o.name!));
  const extraOutputs = (graph.node ?? []).flatMap((n) => (n.output ?? []).filter((o) => o && !exposed.has(o)));
  const probe: Model = { ...model, graph: { ...graph, output: [...(graph.output ?? []), ...extraOutputs.map((name) => ({ name }))] } };
  const session = await ort.InferenceSession.create(encodeModel(probe), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const runAt = async (n: number) => {
      const feeds: Record<string, ort.Tensor> = {};
      for (const input of realInputs) {
        const given = options.inputs[input.name!];
        const dims = batched.has(input.name!) ? [n, ...given.slice(1)] : [...given];
        const elem = input.type?.tensorType?.elemType;
        feeds[input.name!] = elem === 7 ? new ort.Tensor('int64', new BigInt64Array(elementCount(dims)), dims) : new ort.Tensor('float32', new Float32Array(elementCount(dims)), dims);
      }
      return session.run(feeds);
    };
    const exact = batched.size === 0;
    const one = await runAt(exact ? batch : 1);
    const two = exact ? one : await runAt(2);
    const shapes = new Map<string, ValueShape>();
    for (const [name, t1] of Object.entries(one)) {
      const d1 = [...t1.dims];
      const d2 = [...two[name].dims];
      if (d1.length !== d2.length) throw new LensembleError(`the rank of ${name} changes with the batch size`, source);
      const dims = d1.map((d, i) => {
        if (exact || d === d2[i]) return d;
        if (d2[i] === 2 * d) return d * batch;
        throw new LensembleError(`axis ${i} of ${name} is neither constant nor proportional to the batch (${d} at 1, ${d2[i]} at 2)`, source);
      });
      const shape: ValueShape = { dims, type: t1.type };
      if (t1.type === 'int64' && t1.size <= 1024) {
        const v1 = Array.from(t1.data as BigInt64Array, Number);
        const v2 = Array.from(two[name].data as BigInt64Array, Number);
        if (v1.length === v2.length && v1.every((v, i) => v === v2[i])) shape.int64Value = v1;
      }
      shapes.set(name, shape);
      t1.dispose();
      if (!exact) two[name].dispose();
    }
    for (const input of realInputs) shapes.set(input.name!, { dims: [...options.inputs[input.name!]], type: input.type?.tensorType?.elemType === 7 ? 'int64' : 'float32' });
    for (const t of graph.initializer ?? []) shapes.set(t.name!, { dims: tensorDims(t), type: t.dataType === 1 ? 'float32' : t.dataType === 7 ? 'int64' : `onnx:${t.dataType}` });
    return shapes;
  } finally {
    await session.release();
  }
}
