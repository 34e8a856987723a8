// Gradient rules of normalisation: BatchNormalization in inference form (frozen statistics), LayerNormalization.
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

/**
 * LayerNormalization over axes [axis, rank): with x̂ = (X − μ)·σ⁻¹ (μ and σ⁻¹ taken from the node's own optional
 * Mean/InvStdDev outputs) and g = dY·scale,
 *   dX = σ⁻¹·(g − mean(g) − x̂·mean(g·x̂)),  dScale = Σ dY·x̂,  dB = Σ dY  (sums over the leading axes).
 */
const layerNormalization: GradientRule = {
  differentiable: [0, 1, 2],
  backward: (ctx) => {
    const [x, scale, bias] = ctx.node.input!;
    const b = ctx.b;
    const dims = ctx.dims(x);
    const rank = dims.length;
    const axis = ((attrInt(ctx.node, 'axis', -1) % rank) + rank) % rank;
    const normAxes = Array.from({ length: rank - axis }, (_, i) => axis + i);
    const leadAxes = Array.from({ length: axis }, (_, i) => i);
    const dY = ctx.dY()!;
    const mean = ctx.forwardOutput(1);
    const invStd = ctx.forwardOutput(2);
    const xHat = b.op('Mul', [b.op('Sub', [x, mean]), invStd]);
    const grads: (string | undefined)[] = [undefined, undefined, undefined];
    if (ctx.needs(0)) {
      const g = b.op('Mul', [dY, scale]);
      const meanG = b.op('ReduceMean', [g], { axes: normAxes, keepdims: 1 });
      const meanGx = b.op('ReduceMean', [b.op('Mul', [g, xHat])], { axes: normAxes, keepdims: 1 });
      grads[0] = b.op('Mul', [b.op('Sub', [b.op('Sub', [g, meanG]), b.op('Mul', [xHat, meanGx])]), invStd]);
    }
    const sumLead = (v: string) => (leadAxes.length ? b.reduceSum(v, leadAxes, false) : v);
    if (ctx.needs(1)) grads[1] = b.reshape(sumLead(b.op('Mul', [dY, xHat])), ctx.dims(scale));
    if (bias && ctx.needs(2)) grads[2] = b.reshape(sumLead(dY), ctx.dims(bias));
    return grads;
  },
};

export const normalizationRules: Record<string, GradientRule> = { BatchNormalization: batchNormalization, LayerNormalization: layerNormalization };
