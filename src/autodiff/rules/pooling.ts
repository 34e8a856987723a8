// Gradient rules of pooling: MaxPool (overlapping windows, ceil mode, dilations), AveragePool, GlobalAveragePool.
import { attrInt, attrInts } from '../attributes.js';
import { elementCount } from '../onnx-io.js';
import type { GradContext, GradientRule } from './rule.js';
import { readWindow, transposePads, type Window } from './window.js';

function poolWindow(ctx: GradContext): Window {
  const kernel = attrInts(ctx.node, 'kernel_shape');
  if (!kernel) throw ctx.fail('it has no kernel_shape');
  if (kernel.length !== 2) throw ctx.fail(`it pools ${kernel.length} spatial axes; the gradient rule covers 2-D pooling`);
  return readWindow(ctx, kernel);
}

/**
 * MaxPool routes each output's gradient to the input position it took (ties: the first, as in PyTorch and
 * onnxruntime). The forward node also emits its flat argmax indices, and the gradient is one ScatterElements
 * with `add` (overlapping windows share inputs).
 */
const maxPool: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    if (attrInt(ctx.node, 'storage_order', 0) !== 0) throw ctx.fail('column-major storage_order is not supported');
    poolWindow(ctx);
    const b = ctx.b;
    const xDims = ctx.dims(ctx.node.input![0]);
    const indices = ctx.forwardOutput(1);
    const zeros = b.op('ConstantOfShape', [b.int64([elementCount(xDims)])]);
    const scattered = b.op('ScatterElements', [zeros, b.reshape(indices, [-1]), b.reshape(ctx.dY()!, [-1])], { axis: 0, reduction: 'add' });
    return [b.reshape(scattered, xDims)];
  },
};

/** How many input positions (not padding) window `o` of one axis covers. */
function validCount(w: Window, axis: number, o: number): number {
  const start = o * w.strides[axis] - w.padBegin[axis];
  const end = Math.min(start + w.kernel[axis], w.inSize[axis]);
  return Math.max(0, end - Math.max(0, start));
}

/**
 * AveragePool: each window spreads dY/count evenly over its inputs, a depthwise ConvTranspose with a ones kernel.
 * The divisor follows onnxruntime's own convention for count_include_pad and ceil mode: AveragePool of a ones
 * image (computed in the graph) is valid/count per window, and valid is counted here.
 */
const averagePool: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    if (attrInts(ctx.node, 'dilations')?.some((d) => d !== 1)) throw ctx.fail('dilated AveragePool is not supported');
    const w = poolWindow(ctx);
    const b = ctx.b;
    const [, c, h, wd] = ctx.dims(ctx.node.input![0]);
    const [ho, wo] = w.outSize;
    const inverseValid = new Float32Array(ho * wo);
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        const valid = validCount(w, 0, i) * validCount(w, 1, j);
        inverseValid[i * wo + j] = valid > 0 ? 1 / valid : 0;
      }
    }
    const attrs = Object.fromEntries(
      (ctx.node.attribute ?? []).map((a) => [a.name!, a.ints?.length ? a.ints.map(Number) : a.s ? new TextDecoder().decode(a.s) : Number(a.i ?? 0)]),
    );
    const onesPooled = b.op('AveragePool', [b.float32(new Float32Array(h * wd).fill(1), [1, 1, h, wd])], attrs);
    const scale = b.op('Mul', [onesPooled, b.float32(inverseValid, [1, 1, ho, wo])]);
    const { pads, outputPadding } = transposePads(w);
    const dX = b.op('ConvTranspose', [b.op('Mul', [ctx.dY()!, scale]), b.float32(new Float32Array(c * w.kernel[0] * w.kernel[1]).fill(1), [c, 1, ...w.kernel])], {
      group: c,
      strides: w.strides,
      kernel_shape: w.kernel,
      pads,
      output_padding: outputPadding.some((p) => p > 0) ? outputPadding : undefined,
    });
    return [dX];
  },
};

const globalAveragePool: GradientRule = {
  differentiable: [0],
  backward: (ctx) => {
    const b = ctx.b;
    const dims = ctx.dims(ctx.node.input![0]);
    const area = elementCount(dims.slice(2));
    return [b.op('Expand', [b.op('Mul', [ctx.dY()!, b.scalar(1 / area)]), b.int64(dims)])];
  },
};

export const poolingRules: Record<string, GradientRule> = {
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalAveragePool,
};
