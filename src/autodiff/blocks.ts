// Blocks of a backbone for partial fine-tuning (`trainable: { last: K }`), found from the graph's structure.
//
// Walking the nodes that lead to the features output in topological order, a *cut* is a point where exactly one
// float activation is live (everything after depends on what came before only through it). A block ends at a cut
// that closes a branching segment (a residual Add, a Concat of parallel branches: MobileNetV2 residual blocks,
// ResNet blocks, SqueezeNet fire modules, ConvNeXt and ViT residual branches) or that follows a conv/matmul whose
// output feeds no activation (MobileNetV2's linear bottleneck ends its non-residual blocks). Activations right
// after an end stay in the ending block; parameter-free stretches (pooling) join the next block; what follows
// the last end (e.g. MobileNetV2's final 1×1 conv, pooling) is the last block.
import { LensembleError } from '../util/errors.js';
import { liveNodes } from './model-assembly.js';
import { graphOf, type Model, type NodeProto } from './onnx-io.js';
import { trainableInitializers, untieInitializerAliases } from './parameters.js';
import type { ShapeMap } from './static-shapes.js';

export interface Block {
  /** Its nodes, topological order. */
  nodes: NodeProto[];
  /** Trainable initializers of the block, graph order. */
  params: string[];
  /** The single activation entering the block (the data input for the first). */
  input: string;
  /** The single activation leaving it. */
  output: string;
}

const ACTIVATIONS = new Set(['Relu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'LeakyRelu', 'Elu', 'Selu', 'Tanh', 'Gelu', 'Mish', 'Softplus', 'PRelu']);
const LINEAR = new Set(['Conv', 'Gemm', 'MatMul', 'ConvTranspose']);

export function findBlocks(original: Model, options: { input: string; features: string; shapes?: ShapeMap; source?: string }): Block[] {
  const source = options.source ?? 'model';
  const model = untieInitializerAliases(original);
  const graph = graphOf(model, source);
  const nodes = liveNodes(graph.node ?? [], [options.features]);
  const constants = new Set([...(graph.initializer ?? []).map((t) => t.name!), ...nodes.filter((n) => n.opType === 'Constant').map((n) => n.output![0])]);
  const trainable = new Set(trainableInitializers(model));

  // Activations: float values computed from the data input (shape arithmetic and constants excluded).
  const fromInput = new Set([options.input]);
  const isActivation = (v: string) => fromInput.has(v);
  for (const n of nodes) {
    if (!n.input!.some((i) => fromInput.has(i))) continue;
    const shapeOnly = n.opType === 'Shape' || n.opType === 'Size';
    for (const o of n.output ?? []) {
      const type = options.shapes?.get(o)?.type;
      if (!shapeOnly && (type === undefined || type === 'float32')) fromInput.add(o);
    }
  }
  const lastUse = new Map<string, number>();
  nodes.forEach((n, k) => n.input!.forEach((i) => isActivation(i) && !constants.has(i) && lastUse.set(i, k)));
  lastUse.set(options.features, nodes.length);

  const live = new Set([options.input]);
  const ends: number[] = [];
  let branching = false;
  const cutValues: string[] = [];
  nodes.forEach((n, k) => {
    for (const o of n.output ?? []) if (isActivation(o) && lastUse.has(o)) live.add(o);
    for (const v of [...live]) if ((lastUse.get(v) ?? -1) <= k) live.delete(v);
    if (live.size > 1) {
      branching = true;
      return;
    }
    const value = [...live][0] ?? n.output![0];
    const next = nodes[k + 1];
    const activationNext = next && ACTIVATIONS.has(next.opType!) && next.input![0] === value;
    const linearEnd = LINEAR.has(n.opType!) && n.input!.slice(1).some((i) => trainable.has(i)) && !activationNext;
    const branchEnd = branching && !activationNext;
    if (branchEnd || linearEnd) {
      ends.push(k);
      cutValues.push(value);
    }
    if (!activationNext) branching = false;
  });

  // A parameter belongs where an activation first reads it, also through parameter-only nodes (an exporter's
  // Identity copies of initializers, a transposed weight).
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const paramsBehind = (value: string, seen: Set<string>): string[] => {
    if (seen.has(value)) return [];
    seen.add(value);
    if (trainable.has(value)) return [value];
    const p = producer.get(value);
    if (!p || isActivation(value)) return [];
    return p.input!.flatMap((i) => paramsBehind(i, seen));
  };
  const claimed = new Set<string>();
  const paramsOf = (members: NodeProto[]) =>
    members
      .filter((n) => n.input!.some(isActivation))
      .flatMap((n) => n.input!.flatMap((i) => paramsBehind(i, new Set())))
      .filter((p) => !claimed.has(p) && claimed.add(p));

  const blocks: Block[] = [];
  let start = 0;
  let input = options.input;
  ends.forEach((end, i) => {
    const members = nodes.slice(start, end + 1);
    const params = paramsOf(members);
    if (!params.length) return; // parameter-free stretch: joins the next block
    blocks.push({ nodes: members, params, input, output: cutValues[i] });
    start = end + 1;
    input = cutValues[i];
  });
  const rest = nodes.slice(start);
  const restParams = paramsOf(rest);
  if (restParams.length) blocks.push({ nodes: rest, params: restParams, input, output: options.features });
  else if (blocks.length) {
    const last = blocks[blocks.length - 1];
    last.nodes.push(...rest);
    last.output = options.features;
  }
  if (!blocks.length) throw new LensembleError(`no trainable blocks between ${options.input} and ${options.features}`, source);
  return blocks;
}

export type TrainableSpec = 'all' | { last: number } | { names: readonly string[] };

export interface ResolvedTrainable {
  /** Backbone parameters to train, graph order. */
  params: string[];
  /** The blocks they belong to (all blocks for 'all'). */
  blocks: Block[];
  /** The activation the first trainable block reads: the frozen prefix's output (the data input for 'all'). */
  cut: string;
}

/** Which backbone initializers train under a spec; `last: K` counts blocks of {@link findBlocks} from the end. */
export function resolveTrainable(model: Model, spec: TrainableSpec, options: { input: string; features: string; shapes?: ShapeMap; source?: string }): ResolvedTrainable {
  const blocks = findBlocks(model, options);
  if (spec === 'all') return { params: blocks.flatMap((b) => b.params), blocks, cut: options.input };
  if ('names' in spec) {
    const known = new Set(blocks.flatMap((b) => b.params));
    const unknown = spec.names.filter((n) => !known.has(n));
    if (unknown.length) throw new LensembleError(`not trainable parameters on the path to ${options.features}: ${unknown.slice(0, 5).join(', ')}`, options.source);
    const chosen = blocks.filter((b) => b.params.some((p) => spec.names.includes(p)));
    return { params: [...spec.names], blocks: chosen, cut: chosen[0]?.input ?? options.input };
  }
  const k = spec.last;
  if (!Number.isInteger(k) || k < 1) throw new LensembleError(`trainable last:${k}: K must be a positive whole number of blocks`, options.source);
  if (k > blocks.length) throw new LensembleError(`trainable last:${k}: the backbone has ${blocks.length} blocks`, options.source);
  const chosen = blocks.slice(blocks.length - k);
  return { params: chosen.flatMap((b) => b.params), blocks: chosen, cut: chosen[0].input };
}

/**
 * Layer groups for discriminative learning rates: the blocks' parameters split into `count` contiguous groups of
 * about equal block count (fastai splits a body into parts and the head is the last group), earliest first.
 */
export function splitLayerGroups(blocks: readonly Block[], count: number): string[][] {
  if (count < 1) throw new LensembleError('at least one layer group');
  const groups: string[][] = Array.from({ length: Math.min(count, blocks.length) }, () => []);
  blocks.forEach((b, i) => groups[Math.floor((i * groups.length) / blocks.length)].push(...b.params));
  return groups;
}

/** fastai's even_mults(start, stop, n): geometric steps from start to stop, e.g. slice(base/100, base) over groups. */
export function discriminativeLrs(low: number, high: number, groups: number): number[] {
  if (groups === 1) return [high];
  const step = (high / low) ** (1 / (groups - 1));
  return Array.from({ length: groups }, (_, i) => low * step ** i);
}
