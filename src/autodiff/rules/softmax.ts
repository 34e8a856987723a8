// Gradient rules of Softmax and LogSoftmax (opset 13+: along one axis).
import { attrInt } from '../attributes.js';
import type { GradContext, GradientRule } from './rule.js';

/** The op's output and its (non-negative) softmax axis. */
function outputAndAxis(ctx: GradContext): { y: string; axis: number } {
  const y = ctx.node.output![0];
  const rank = ctx.dims(y).length;
  return { y, axis: ((attrInt(ctx.node, 'axis', -1) % rank) + rank) % rank };
}

/** dX = Y·(dY − Σ dY·Y) along the axis. */
const softmax: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const { b } = ctx;
    const { y, axis } = outputAndAxis(ctx);
    const dY = ctx.dY()!;
    const dot = b.reduceSum(b.op('Mul', [dY, y]), [axis], true);
    return [b.op('Mul', [y, b.op('Sub', [dY, dot])])];
  },
};

/** dX = dY − exp(Y)·Σ dY along the axis. */
const logSoftmax: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const { b } = ctx;
    const { y, axis } = outputAndAxis(ctx);
    const dY = ctx.dY()!;
    return [b.op('Sub', [dY, b.op('Mul', [b.op('Exp', [y]), b.reduceSum(dY, [axis], true)])])];
  },
};

export const softmaxRules: Record<string, GradientRule> = { Softmax: softmax, LogSoftmax: logSoftmax };
