// A model that computes a forward pass and the gradients of chosen values, given upstream gradients of outputs:
// the building block of the step graph, and what the gradient tests run.
import { LensembleError } from '../util/errors.js';
import { buildBackward } from './backward.js';
import { GraphBuilder } from './graph-builder.js';
import { cloneNodes, dataInputs, graphConstants, namesIn, trainingOpsets, valueInfo } from './model-assembly.js';
import { graphOf, tensorDims, type Model } from './onnx-io.js';
import { inferStaticShapes, type ShapeMap } from './static-shapes.js';

export interface GradientModelOptions {
  /** Dims of each data input at the batch size the model will run at. */
  inputDims: Record<string, readonly number[]>;
  /** Initializers (they become graph inputs) and data inputs whose gradients are wanted. */
  wrt: readonly string[];
  /** Outputs whose upstream gradient is fed as input `upstream.<output>`. */
  outputs: readonly string[];
  /** Inputs whose axis 0 is the batch (see {@link inferStaticShapes}). */
  batchInputs?: readonly string[];
  /** Shapes already inferred for these input dims. */
  shapes?: ShapeMap;
  source?: string;
}

export interface GradientModel {
  model: Model;
  /** Output → the input that takes its upstream gradient. */
  upstreamInputs: Record<string, string>;
  /** Wanted value → the output holding its gradient. */
  gradOutputs: Record<string, string>;
  shapes: ShapeMap;
}

export async function buildGradientModel(model: Model, options: GradientModelOptions): Promise<GradientModel> {
  const source = options.source ?? 'model';
  const graph = graphOf(model, source);
  const shapes = options.shapes ?? (await inferStaticShapes(model, { inputs: options.inputDims, batchInputs: options.batchInputs, source }));
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const inputs = new Set(dataInputs(graph).map((i) => i.name!));
  for (const w of options.wrt) {
    if (!initializers.has(w) && !inputs.has(w)) throw new LensembleError(`${w} is neither an initializer nor an input of the graph`, source);
  }
  const b = new GraphBuilder(namesIn(graph), 'grad/');
  const upstreamInputs: Record<string, string> = {};
  const seeds = new Map<string, string>();
  for (const out of options.outputs) {
    if (!shapes.has(out)) throw new LensembleError(`the graph has no value ${out}`, source);
    upstreamInputs[out] = b.claim(`upstream.${out}`);
    seeds.set(out, upstreamInputs[out]);
  }
  const nodes = cloneNodes(graph);
  const grads = buildBackward({ nodes, shapes, wrt: options.wrt, seeds, constants: graphConstants(graph, shapes), builder: b, source });
  const gradOutputs: Record<string, string> = {};
  for (const w of options.wrt) {
    const g = grads.get(w);
    const name = b.claim(`grad.${w}`);
    // A wanted value the outputs do not depend on has a zero gradient.
    if (g) b.op('Identity', [g], {}, name);
    else b.op('ConstantOfShape', [b.int64(shapes.get(w)!.dims)], {}, name);
    gradOutputs[w] = name;
  }
  const trainable = options.wrt.filter((w) => initializers.has(w));
  const trainableSet = new Set(trainable);
  const built: Model = {
    ...model,
    opsetImport: trainingOpsets(model, source),
    graph: {
      ...graph,
      node: [...nodes, ...b.nodes],
      initializer: [...(graph.initializer ?? []).filter((t) => !trainableSet.has(t.name!)), ...b.initializers],
      input: [
        ...dataInputs(graph).map((i) => valueInfo(i.name!, options.inputDims[i.name!])),
        ...trainable.map((w) => valueInfo(w, tensorDims(initializers.get(w)!))),
        ...options.outputs.map((o) => valueInfo(upstreamInputs[o], shapes.get(o)!.dims)),
      ],
      output: [...(graph.output ?? []), ...options.wrt.map((w) => valueInfo(gradOutputs[w], shapes.get(w)!.dims))],
      valueInfo: [],
    },
  };
  return { model: built, upstreamInputs, gradOutputs, shapes };
}
