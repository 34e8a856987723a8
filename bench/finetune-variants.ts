/**
 * Earlier gradient formulations, kept so that bench/finetune-bench.ts can run them side by side with the current
 * rules in the same run (`--ours current,merged,...`): each variant overrides some of the library's rules.
 * `merged` is every formulation as the autodiff merge had it; `old-<part>` is the current rules with only that part
 * reverted.
 */
import { float } from '../src/autodiff/graph-builder.js';
import { floatTensorData } from '../src/autodiff/onnx-io.js';
import { gradientRules, type GradientRule } from '../src/autodiff/rules/index.js';

/** ReLU6 mask as the merge had it: HardSigmoid(1e37·(y − lo)·(hi − y))·dY, three passes over y. */
const productMaskClip: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const [, min, max] = ctx.node.input!;
    const y = ctx.node.output![0];
    const bound = (name: string | undefined) => (name ? floatTensorData(ctx.constant(name)!)[0] : undefined);
    const lo = bound(min);
    const hi = bound(max);
    const b = ctx.b;
    const above = lo === undefined ? undefined : lo === 0 ? y : b.op('Sub', [y, b.scalar(lo)]);
    const below = hi === undefined ? undefined : b.op('Sub', [b.scalar(hi), y]);
    if (!above && !below) return [ctx.dY()];
    const inside = above && below ? b.op('Mul', [above, below]) : (above ?? below)!;
    return [b.op('Mul', [ctx.dY()!, b.op('HardSigmoid', [inside], { alpha: float(1e37), beta: float(0) })])];
  },
};

const parts: Record<string, Partial<Record<string, GradientRule>>> = {
  mask: { Clip: productMaskClip },
};

export const FORMULATION_VARIANTS: Record<string, Readonly<Record<string, GradientRule>>> = {
  merged: { ...gradientRules, ...Object.assign({}, ...Object.values(parts)) },
  ...Object.fromEntries(Object.entries(parts).map(([part, rules]) => [`old-${part}`, { ...gradientRules, ...rules }])),
};
