// Gradient rules of ops that only move values: Concat, Flatten, Reshape, Squeeze/Unsqueeze, Transpose, Expand,
// Slice and Gather (with constant starts/ends/indices: zero-padded or scattered back into the input's shape).
import { attrInt, attrInts } from '../attributes.js';
import { int64TensorData } from '../onnx-io.js';
import { reduceToShape } from './broadcast.js';
import type { GradContext, GradientRule } from './rule.js';

/** The gradient reshaped back to the input's dims (for ops that keep element order). */
const reshapeBack: GradientRule = {
  differentiable: [0],
  backward: (ctx) => [ctx.b.reshape(ctx.dY()!, ctx.dims(ctx.node.input![0]))],
};

const normaliseAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

/** Concat: one Split of dY at the inputs' sizes along the axis. */
const concat: GradientRule = {
  differentiable: (node) => node.input!.map((_, i) => i),
  backward: (ctx) => {
    const inputs = ctx.node.input!;
    const outDims = ctx.dims(ctx.node.output![0]);
    const axis = normaliseAxis(attrInt(ctx.node, 'axis', 0), outDims.length);
    const sizes = inputs.map((x) => ctx.dims(x)[axis]);
    const parts = ctx.b.opN('Split', [ctx.dY()!, ctx.b.int64(sizes)], inputs.length, { axis });
    return parts.map((p, i) => (ctx.needs(i) ? p : undefined));
  },
};

const transpose: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const rank = ctx.dims(ctx.node.input![0]).length;
    const perm = attrInts(ctx.node, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    const inverse = new Array<number>(rank);
    perm.forEach((p, i) => (inverse[p] = i));
    return [ctx.b.transpose(ctx.dY()!, inverse)];
  },
};

const expand: GradientRule = {
  differentiable: [0],
  backward: (ctx: GradContext) => [reduceToShape(ctx.b, ctx.dY()!, ctx.dims(ctx.node.output![0]), ctx.dims(ctx.node.input![0]))],
};

/** The values of a constant int64 input, or an error naming what the rule needs. */
function constantInts(ctx: GradContext, index: number, what: string): number[] | undefined {
  const name = ctx.node.input![index];
  if (!name) return undefined;
  const t = ctx.constant(name);
  if (!t) throw ctx.fail(`its ${what} (${name}) is computed at run time; the gradient rule needs constants`);
  return int64TensorData(t);
}

/** Slice with unit steps: dY zero-padded back to the input's dims. */
const slice: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const dims = ctx.dims(ctx.node.input![0]);
    const rank = dims.length;
    const starts = constantInts(ctx, 1, 'starts')!;
    const ends = constantInts(ctx, 2, 'ends')!;
    const axes = constantInts(ctx, 3, 'axes') ?? starts.map((_, i) => i);
    const steps = constantInts(ctx, 4, 'steps') ?? starts.map(() => 1);
    if (steps.some((st) => st !== 1)) throw ctx.fail('Slice with steps other than 1 has no gradient rule');
    const pads = new Array<number>(2 * rank).fill(0);
    axes.forEach((a, i) => {
      const axis = normaliseAxis(a, rank);
      const d = dims[axis];
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
      const [s, e] = [clamp(starts[i]), clamp(ends[i])];
      pads[axis] = s;
      pads[axis + rank] = d - Math.max(e, s);
    });
    return [ctx.b.op('Pad', [ctx.dY()!, ctx.b.int64(pads)])];
  },
};

/** Gather with constant scalar or 1-D indices: dY scattered (summing repeats) into zeros of the input's dims. */
const gather: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const b = ctx.b;
    const dims = ctx.dims(ctx.node.input![0]);
    const axis = normaliseAxis(attrInt(ctx.node, 'axis', 0), dims.length);
    const indexDims = ctx.dims(ctx.node.input![1]);
    if (indexDims.length > 1) throw ctx.fail('Gather with indices of rank > 1 has no gradient rule');
    const indices = constantInts(ctx, 1, 'indices')!.map((i) => (i < 0 ? i + dims[axis] : i));
    const updateDims = dims.map((d, i) => (i === axis ? indices.length : d));
    const updates = b.reshape(ctx.dY()!, updateDims);
    const where = b.op('Expand', [b.int64(indices, dims.map((_, i) => (i === axis ? indices.length : 1))), b.int64(updateDims)]);
    const zeros = b.op('ConstantOfShape', [b.int64(dims)]);
    return [b.op('ScatterElements', [zeros, where, updates], { axis, reduction: 'add' })];
  },
};

export const shapeRules: Record<string, GradientRule> = {
  Slice: slice,
  Gather: gather,
  Flatten: reshapeBack,
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Concat: concat,
  Transpose: transpose,
  Expand: expand,
};
