// Gradient rules of elementwise ops: activations and broadcasting arithmetic.
import { float } from '../graph-builder.js';
import { floatTensorData } from '../onnx-io.js';
import { reduceToShape } from './broadcast.js';
import type { GradContext, GradientRule } from './rule.js';

/**
 * 1 where `positive` > 0, else 0, as one HardSigmoid with a huge slope: clamp(1e37·t, 0, 1). Faster in
 * onnxruntime than Greater→Cast or Where (it is one vectorised pass); a t in (0, 1e-37) would give a fraction,
 * which float activations do not produce.
 */
const stepOf = (ctx: GradContext, positive: string) => ctx.b.op('HardSigmoid', [positive], { alpha: float(1e37), beta: float(0) });

const identity: GradientRule = { differentiable: [0], backward: (ctx) => [ctx.dY()] };

/** Relu: dY where y > 0 (read from the output, which the next layer keeps anyway). */
const relu: GradientRule = {
  differentiable: [0],
  backward: (ctx) => [ctx.b.op('Mul', [ctx.dY()!, stepOf(ctx, ctx.node.output![0])])],
};

/**
 * Clip passes the gradient where the input lies strictly inside the bounds (as PyTorch's hardtanh does). The
 * mask is read from the output (equal to the input exactly there): (y − lo)·(hi − y) > 0.
 */
const clip: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const [, min, max] = ctx.node.input!;
    const y = ctx.node.output![0];
    const boundOf = (name: string | undefined) => {
      if (!name) return undefined;
      const t = ctx.constant(name);
      if (!t) throw ctx.fail(`its bound ${name} is computed at run time; the gradient rule needs constant bounds`);
      return floatTensorData(t)[0];
    };
    const lo = boundOf(min);
    const hi = boundOf(max);
    const b = ctx.b;
    const above = lo === undefined ? undefined : lo === 0 ? y : b.op('Sub', [y, b.scalar(lo)]);
    const below = hi === undefined ? undefined : b.op('Sub', [b.scalar(hi), y]);
    if (!above && !below) return [ctx.dY()];
    const inside = above && below ? b.op('Mul', [above, below]) : (above ?? below)!;
    return [b.op('Mul', [ctx.dY()!, stepOf(ctx, inside)])];
  },
};

const sigmoid: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const b = ctx.b;
    const y = ctx.node.output![0];
    const slope = b.op('Mul', [y, b.op('Sub', [b.scalar(1), y])]);
    return [b.op('Mul', [ctx.dY()!, slope])];
  },
};

const tanh: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const b = ctx.b;
    const y = ctx.node.output![0];
    return [b.op('Mul', [ctx.dY()!, b.op('Sub', [b.scalar(1), b.op('Mul', [y, y])])])];
  },
};

/** d erf(x)/dx = 2/√π · exp(−x²). */
const erf: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const b = ctx.b;
    const x = ctx.node.input![0];
    const gauss = b.op('Exp', [b.op('Neg', [b.op('Mul', [x, x])])]);
    return [b.op('Mul', [ctx.dY()!, b.op('Mul', [gauss, b.scalar(2 / Math.sqrt(Math.PI))])])];
  },
};

const neg: GradientRule = { differentiable: [0], backward: (ctx) => [ctx.b.op('Neg', [ctx.dY()!])] };

const sqrt: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const b = ctx.b;
    return [b.op('Div', [ctx.dY()!, b.op('Mul', [ctx.node.output![0], b.scalar(2)])])];
  },
};

/** Binary arithmetic: each operand's gradient is formed at the output's dims, then summed over broadcast axes. */
function binary(grads: (ctx: GradContext, dY: string, a: string, bIn: string) => [() => string, () => string]): GradientRule {
  return {
    differentiable: [0, 1],
    backward: (ctx) => {
      const [a, bIn] = ctx.node.input!;
      const out = ctx.dims(ctx.node.output![0]);
      const [ga, gb] = grads(ctx, ctx.dY()!, a, bIn);
      return [
        ctx.needs(0) ? reduceToShape(ctx.b, ga(), out, ctx.dims(a)) : undefined,
        ctx.needs(1) ? reduceToShape(ctx.b, gb(), out, ctx.dims(bIn)) : undefined,
      ];
    },
  };
}

const add = binary((_ctx, dY) => [() => dY, () => dY]);
const sub = binary((ctx, dY) => [() => dY, () => ctx.b.op('Neg', [dY])]);
const mul = binary((ctx, dY, a, bIn) => [() => ctx.b.op('Mul', [dY, bIn]), () => ctx.b.op('Mul', [dY, a])]);
const div = binary((ctx, dY, _a, bIn) => [
  () => ctx.b.op('Div', [dY, bIn]),
  // d(a/b)/db = −(a/b)/b
  () => ctx.b.op('Neg', [ctx.b.op('Div', [ctx.b.op('Mul', [dY, ctx.node.output![0]]), bIn])]),
]);

/** Pow with a constant exponent p: p·x^(p−1). */
const pow: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const [x, e] = ctx.node.input!;
    const t = ctx.constant(e);
    if (!t) throw ctx.fail('its exponent is computed at run time; only constant exponents have a gradient rule');
    const p = floatTensorData(t)[0];
    const b = ctx.b;
    const slope = p === 2 ? b.op('Mul', [x, b.scalar(2)]) : b.op('Mul', [b.op('Pow', [x, b.scalar(p - 1)]), b.scalar(p)]);
    return [b.op('Mul', [ctx.dY()!, slope])];
  },
};

/** Where(cond, a, b): dY goes to a where cond holds, to b elsewhere. */
const where: GradientRule = {
  differentiable: [1, 2],
  backward: (ctx) => {
    const [cond, a, bIn] = ctx.node.input!;
    const b = ctx.b;
    const out = ctx.dims(ctx.node.output![0]);
    const dY = ctx.dY()!;
    const zero = b.scalar(0);
    return [
      undefined,
      ctx.needs(1) ? reduceToShape(b, b.op('Where', [cond, dY, zero]), out, ctx.dims(a)) : undefined,
      ctx.needs(2) ? reduceToShape(b, b.op('Where', [cond, zero, dY]), out, ctx.dims(bIn)) : undefined,
    ];
  },
};

/** A float-to-float Cast: the gradient cast back (only float32 graphs are built, so it is the gradient itself). */
const cast: GradientRule = {
  differentiable: [0],
  backward: (ctx) => [ctx.b.op('Cast', [ctx.dY()!], { to: 1 })],
};

export const elementwiseRules: Record<string, GradientRule> = {
  Where: where,
  Cast: cast,
  Identity: identity,
  Relu: relu,
  Clip: clip,
  Sigmoid: sigmoid,
  Tanh: tanh,
  Erf: erf,
  Neg: neg,
  Sqrt: sqrt,
  Add: add,
  Sub: sub,
  Mul: mul,
  Div: div,
  Pow: pow,
};
