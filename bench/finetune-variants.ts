/**
 * Gradient formulations other than the library's, kept so that bench/finetune-bench.ts can run them side by side
 * with the current rules in the same run (`--ours sequential,merged,tried-shrink-mask`): each variant is the
 * library's rules with some of them replaced. `merged` holds every formulation as the autodiff merge had it;
 * `tried-<name>` one that was measured and not kept (BENCHMARKS.md says what it gave).
 */
import { float } from '../src/autodiff/graph-builder.js';
import { floatTensorData } from '../src/autodiff/onnx-io.js';
import { convRuleWith } from '../src/autodiff/rules/conv.js';
import { gradientRules, type GradientRule } from '../src/autodiff/rules/index.js';

/**
 * ReLU6 mask from one Shrink: Shrink(y, lambd = lo, bias = hi) is 0 exactly at both bounds and negative inside, so
 * HardSigmoid(−2¹⁰⁰·s)·dY is three passes instead of four — but onnxruntime's Shrink is a single-threaded Eigen loop.
 */
const shrinkMaskClip: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const [, min, max] = ctx.node.input!;
    const lo = min ? floatTensorData(ctx.constant(min)!)[0] : undefined;
    const hi = max ? floatTensorData(ctx.constant(max)!)[0] : undefined;
    if (lo === undefined || hi === undefined || lo < 0) return gradientRules.Clip.backward(ctx);
    const b = ctx.b;
    const shrunk = b.op('Shrink', [ctx.node.output![0]], { lambd: float(lo), bias: float(hi) });
    return [b.op('Mul', [ctx.dY()!, b.op('HardSigmoid', [shrunk], { alpha: float(-(2 ** 100)), beta: float(0) })])];
  },
};

const merged: Partial<Record<string, GradientRule>> = {
  Conv: convRuleWith({ depthwiseWeightGrad: 'batch-groups' }),
};

const tried: Record<string, Partial<Record<string, GradientRule>>> = {
  'shrink-mask': { Clip: shrinkMaskClip },
};

export const FORMULATION_VARIANTS: Record<string, Readonly<Record<string, GradientRule>>> = {
  merged: { ...gradientRules, ...merged } as Record<string, GradientRule>,
  ...Object.fromEntries(Object.entries(tried).map(([name, rules]) => [`tried-${name}`, { ...gradientRules, ...rules } as Record<string, GradientRule>])),
};
