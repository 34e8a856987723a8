// Gradient rules of Gemm and MatMul (batched, broadcasting, 1-D operands).
import { attrFloat, attrInt } from '../attributes.js';
import { float } from '../graph-builder.js';
import { reduceToShape } from './broadcast.js';
import type { GradientRule } from './rule.js';

/** Y = α·A'·B' + β·C with A' = transA ? Aᵀ : A, B' likewise. */
const gemm: GradientRule = {
  differentiable: [0, 1, 2],
  backward: (ctx) => {
    const [a, bIn, c] = ctx.node.input!;
    const transA = attrInt(ctx.node, 'transA', 0);
    const transB = attrInt(ctx.node, 'transB', 0);
    const alpha = float(attrFloat(ctx.node, 'alpha', 1));
    const beta = attrFloat(ctx.node, 'beta', 1);
    const dY = ctx.dY()!;
    const b = ctx.b;
    // dA' = α·dY·B'ᵀ; dB' = α·A'ᵀ·dY; a transposed operand takes the transpose of its gradient.
    const dA = ctx.needs(0)
      ? transA
        ? b.op('Gemm', [bIn, dY], { alpha, transA: transB, transB: 1 })
        : b.op('Gemm', [dY, bIn], { alpha, transB: transB ? 0 : 1 })
      : undefined;
    const dB = ctx.needs(1)
      ? transB
        ? b.op('Gemm', [dY, a], { alpha, transA: 1, transB: transA })
        : b.op('Gemm', [a, dY], { alpha, transA: transA ? 0 : 1 })
      : undefined;
    let dC: string | undefined;
    if (c && ctx.needs(2)) {
      const scaled = beta === 1 ? dY : b.op('Mul', [dY, b.scalar(beta)]);
      dC = reduceToShape(b, scaled, ctx.dims(ctx.node.output![0]), ctx.dims(c));
    }
    return [dA, dB, dC];
  },
};

const swapLast = (rank: number) => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];

/**
 * MatMul. A weight matrix B ([K, N]) applied to a batch ([..., M, K]) gets its gradient as one Gemm over the
 * flattened batch; the general case multiplies by the transposed other operand and sums broadcast axes.
 */
const matMul: GradientRule = {
  differentiable: [0, 1],
  backward: (ctx) => {
    const [a, bIn] = ctx.node.input!;
    const b = ctx.b;
    let aDims = ctx.dims(a);
    let bDims = ctx.dims(bIn);
    let dY = ctx.dY()!;
    let aVal = a;
    let bVal = bIn;
    // 1-D operands are matrices with a unit axis that the output lacks.
    const aVector = aDims.length === 1;
    const bVector = bDims.length === 1;
    if (aVector) {
      aVal = b.reshape(a, [1, aDims[0]]);
      aDims = [1, aDims[0]];
    }
    if (bVector) {
      bVal = b.reshape(bIn, [bDims[0], 1]);
      bDims = [bDims[0], 1];
    }
    const out = ctx.dims(ctx.node.output![0]);
    const batch = out.slice(0, out.length - (aVector ? 0 : 1) - (bVector ? 0 : 1));
    const outDims = [...batch, aDims[aDims.length - 2], bDims[bDims.length - 1]];
    dY = b.reshape(dY, outDims);
    const [m, k] = aDims.slice(-2);
    const n = bDims[bDims.length - 1];
    let dA: string | undefined;
    let dB: string | undefined;
    if (ctx.needs(0)) {
      const g = bDims.length === 2 ? b.op('MatMul', [dY, b.transpose(bVal, [1, 0])]) : b.op('MatMul', [dY, b.transpose(bVal, swapLast(bDims.length))]);
      dA = reduceToShape(b, g, [...batch, m, k], aDims);
      if (aVector) dA = b.reshape(dA, ctx.dims(a));
    }
    if (ctx.needs(1)) {
      if (bDims.length === 2) {
        const rows = outDims.slice(0, -1).reduce((p, q) => p * q, 1);
        const broadcast = aDims.length !== outDims.length || aDims.some((d, i) => d !== [...batch, m, k][i]);
        const aRows = b.reshape(broadcast ? b.op('Expand', [aVal, b.int64([...batch, m, k])]) : aVal, [rows, k]);
        dB = b.op('Gemm', [aRows, b.reshape(dY, [rows, n])], { transA: 1 });
      } else {
        const g = b.op('MatMul', [b.transpose(aVal, swapLast(aDims.length)), dY]);
        dB = reduceToShape(b, g, [...batch, k, n], bDims);
      }
      if (bVector) dB = b.reshape(dB, ctx.dims(bIn));
    }
    return [dA, dB];
  },
};

export const matmulRules: Record<string, GradientRule> = { Gemm: gemm, MatMul: matMul };
