// Gradient rules of normalisation: BatchNormalization in inference form (frozen statistics).
import { attrFloat, attrInt } from '../attributes.js';
import type { GradientRule } from './rule.js';

/**
 * Y = scale·(X − mean)/√(var + ε) + B with the running statistics frozen (fine-tuning keeps BatchNorm in eval
 * mode): dX = dY·scale/√(var+ε), dScale = Σ dY·x̂, dB = Σ dY over every axis but the channel.
 */
const batchNormalization: GradientRule = {
  differentiable: [0, 1, 2],
  backward: (ctx) => {
    if (attrInt(ctx.node, 'training_mode', 0)) throw ctx.fail('training_mode BatchNormalization (batch statistics) is not supported');
    const [x, scale, , mean, variance] = ctx.node.input!;
    const b = ctx.b;
    const dims = ctx.dims(x);
    const channelShape = [dims[1], ...dims.slice(2).map(() => 1)];
    const axes = [0, ...dims.slice(2).map((_, i) => i + 2)];
    const dY = ctx.dY()!;
    const invStd = b.reshape(b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, b.scalar(attrFloat(ctx.node, 'epsilon', 1e-5))])])]), channelShape);
    const dX = ctx.needs(0) ? b.op('Mul', [dY, b.op('Mul', [b.reshape(scale, channelShape), invStd])]) : undefined;
    let dScale: string | undefined;
    if (ctx.needs(1)) {
      const xHat = b.op('Mul', [b.op('Sub', [x, b.reshape(mean, channelShape)]), invStd]);
      dScale = b.reduceSum(b.op('Mul', [dY, xHat]), axes, false);
    }
    const dB = ctx.needs(2) ? b.reduceSum(dY, axes, false) : undefined;
    return [dX, dScale, dB];
  },
};

export const normalizationRules: Record<string, GradientRule> = { BatchNormalization: batchNormalization };
