// Gradient rules of ops that only move values: Concat, Flatten, Reshape, Squeeze/Unsqueeze, Transpose, Expand.
import { attrInt, attrInts } from '../attributes.js';
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

export const shapeRules: Record<string, GradientRule> = {
  Flatten: reshapeBack,
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Concat: concat,
  Transpose: transpose,
  Expand: expand,
};
