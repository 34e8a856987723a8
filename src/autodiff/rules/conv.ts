// Gradient rule of Conv (2-D; dense, grouped and depthwise; strides, pads incl. asymmetric and auto_pad,
// dilations). Each gradient has the formulation that measured fastest in onnxruntime (bench/grad-formulations-bench.ts).
import { attrInt, attrInts } from '../attributes.js';
import type { GraphBuilder } from '../graph-builder.js';
import type { GradContext, GradientRule } from './rule.js';
import { isTrivialWindow, readWindow, transposePads, type Window } from './window.js';

interface ConvShape {
  n: number;
  c: number;
  m: number;
  group: number;
  w: Window;
}

function convShape(ctx: GradContext): ConvShape {
  const [x, weight] = ctx.node.input!;
  const xDims = ctx.dims(x);
  const wDims = ctx.dims(weight);
  if (xDims.length !== 4) throw ctx.fail(`input has rank ${xDims.length}; the gradient rule covers 2-D convolutions`);
  const kernel = attrInts(ctx.node, 'kernel_shape') ?? wDims.slice(2);
  return { n: xDims[0], c: xDims[1], m: wDims[0], group: attrInt(ctx.node, 'group', 1), w: readWindow(ctx, kernel) };
}

/** dX for a 1×1 stride-1 unpadded dense conv: one MatMul of Wᵀ with dY. */
function pointwiseInputGrad(b: GraphBuilder, s: ConvShape, weight: string, dY: string): string {
  const [h, w] = s.w.inSize;
  const wT = b.transpose(b.reshape(weight, [s.m, s.c]), [1, 0]);
  return b.reshape(b.op('MatMul', [wT, b.reshape(dY, [s.n, s.m, h * w])]), [s.n, s.c, h, w]);
}

/**
 * dW for a 1×1 stride-1 unpadded dense conv, Σₙ dYₙ·Xₙᵀ. At large spatial sizes: one batched MatMul and a sum
 * over the batch (the [N, M, C] products are small next to the activations). At small ones (late layers, where
 * 4·M·C exceeds HW·(M + C), measured): both operands transposed to channel-major and one Gemm over N·HW, which avoids the
 * big per-image products and the tiny-K GEMMs.
 */
function pointwiseWeightGrad(b: GraphBuilder, s: ConvShape, x: string, dY: string): string {
  const [h, w] = s.w.inSize;
  const hw = h * w;
  if (4 * s.m * s.c > hw * (s.m + s.c)) {
    const dYT = b.reshape(b.transpose(b.reshape(dY, [s.n, s.m, hw]), [1, 0, 2]), [s.m, s.n * hw]);
    const xT = b.reshape(b.transpose(b.reshape(x, [s.n, s.c, hw]), [1, 0, 2]), [s.c, s.n * hw]);
    return b.reshape(b.op('Gemm', [dYT, xT], { transB: 1 }), [s.m, s.c, 1, 1]);
  }
  const xT = b.transpose(b.reshape(x, [s.n, s.c, hw]), [0, 2, 1]);
  const perImage = b.op('MatMul', [b.reshape(dY, [s.n, s.m, hw]), xT]);
  return b.reshape(b.reduceSum(perImage, [0], false), [s.m, s.c, 1, 1]);
}

/** dX by ConvTranspose with the forward weights, pads chosen to land exactly on the input size. */
function transposedInputGrad(b: GraphBuilder, s: ConvShape, weight: string, dY: string): string {
  const { pads, outputPadding } = transposePads(s.w);
  return b.op('ConvTranspose', [dY, weight], {
    group: s.group,
    strides: s.w.strides,
    dilations: s.w.dilations,
    kernel_shape: s.w.kernel,
    pads,
    output_padding: outputPadding.some((p) => p > 0) ? outputPadding : undefined,
  });
}

/** The kernel rotated by 180° and with input/output channels swapped per group: [C, M/g, kh, kw]. */
function flippedTransposedKernel(b: GraphBuilder, s: ConvShape, weight: string): string {
  const [kh, kw] = s.w.kernel;
  const flipped = b.op('Slice', [weight, b.int64([-1, -1]), b.int64([-(2 ** 62), -(2 ** 62)]), b.int64([2, 3]), b.int64([-1, -1])]);
  if (s.c === s.group && s.m === s.group) return flipped;
  const g = s.group;
  const swapped = b.transpose(b.reshape(flipped, [g, s.m / g, s.c / g, kh, kw]), [0, 2, 1, 3, 4]);
  return b.reshape(swapped, [s.c, s.m / g, kh, kw]);
}

/**
 * dX of a stride-1 conv as a plain Conv of dY with the flipped kernel (2.5× faster than ConvTranspose for
 * depthwise kernels in onnxruntime): begin pad (k−1)·d − p_begin, end pad (k−1)·d − p_end.
 */
function flippedInputGrad(b: GraphBuilder, s: ConvShape, weight: string, dY: string): string {
  const reach = s.w.kernel.map((k, i) => (k - 1) * s.w.dilations[i]);
  const pads = [...reach.map((r, i) => r - s.w.padBegin[i]), ...reach.map((r, i) => r - s.w.padEnd[i])];
  return b.op('Conv', [dY, flippedTransposedKernel(b, s, weight)], { group: s.group, dilations: s.w.dilations, pads });
}

/** Whether dX can be a stride-1 Conv: unit strides and pads no wider than the kernel reach. */
const flippable = (w: Window): boolean =>
  w.strides.every((st) => st === 1) && w.kernel.every((k, i) => w.padBegin[i] <= (k - 1) * w.dilations[i] && w.padEnd[i] <= (k - 1) * w.dilations[i]);

/** Pads for the weight-gradient correlation of X with dY (dilated by the stride): as few as cover every tap. */
function weightGradPads(w: Window): number[] {
  const { pads } = transposePads(w);
  return pads;
}

/** Crops a [.., .., kh', kw'] correlation result to the kernel size when the input had rows no window used. */
function cropToKernel(b: GraphBuilder, value: string, dims: number[], kernel: number[]): string {
  if (dims[2] === kernel[0] && dims[3] === kernel[1]) return value;
  return b.op('Slice', [value, b.int64([0, 0]), b.int64(kernel), b.int64([2, 3])]);
}

function correlationSize(w: Window, pads: number[], axis: number): number {
  const rank = w.inSize.length;
  const taps = w.strides[axis] * (w.outSize[axis] - 1) + 1;
  return Math.floor((w.inSize[axis] + pads[axis] + pads[axis + rank] - taps) / w.dilations[axis]) + 1;
}

/**
 * dW when every group has one input channel (depthwise, with or without a channel multiplier): the batch joins
 * the channels ([1, N·C, H, W]) and dY becomes the kernel ([N·M, 1, Ho, Wo]), so one grouped Conv computes every
 * image's per-channel correlation without a transpose; a sum over the batch follows.
 */
function depthwiseWeightGrad(b: GraphBuilder, s: ConvShape, x: string, dY: string): string {
  const [h, w] = s.w.inSize;
  const [ho, wo] = s.w.outSize;
  const pads = weightGradPads(s.w);
  const corr = b.op('Conv', [b.reshape(x, [1, s.n * s.c, h, w]), b.reshape(dY, [s.n * s.m, 1, ho, wo])], {
    group: s.n * s.c,
    strides: s.w.dilations,
    dilations: s.w.strides,
    pads,
  });
  const size = [correlationSize(s.w, pads, 0), correlationSize(s.w, pads, 1)];
  const perImage = b.reshape(cropToKernel(b, corr, [1, s.n * s.m, ...size], s.w.kernel), [s.n, s.m, ...s.w.kernel]);
  return b.reshape(b.reduceSum(perImage, [0], false), [s.m, 1, ...s.w.kernel]);
}

/**
 * Whether a stride-1, dilation-1 depthwise dW should use {@link overlappingRowsWeightGrad}: rows of 10–64 padded
 * columns. Measured against the batch-as-groups Conv at MobileNetV2's shapes (bench/grad-formulations-bench.ts):
 * 1.5–1.7× faster at 14² and 28², a little at 56²; slower at 7² (the Pads dominate) and at 112² (the wasted
 * offsets grow with the row length).
 */
const overlappingRowsFits = (w: Window): boolean => {
  const rowLength = w.inSize[1] + w.padBegin[1] + w.padEnd[1];
  return rowLength >= 10 && rowLength <= 64;
};

/**
 * Stride-1 depthwise dW without im2col. Every (image, channel) plane of X is padded and flattened with rows of
 * R = padded width (plus one zero row), dY is padded to rows of R and flattened; a grouped Conv whose kernel
 * (dY, [Ho·R] long) spans its whole input column is one GEMM straight over overlapping windows of X in MLAS
 * (no im2col: "kernel uses the entire input width"), giving the correlation at every flat offset 0..kh·R. Tap
 * (a, b) is offset a·R + b; the other offsets are the price (kh·R + 1 dot products instead of kh·kw).
 */
function overlappingRowsWeightGrad(b: GraphBuilder, s: ConvShape, x: string, dY: string): string {
  const [h, w] = s.w.inSize;
  const [ho, wo] = s.w.outSize;
  const [kh, kw] = s.w.kernel;
  const rowLength = w + s.w.padBegin[1] + s.w.padEnd[1];
  const rows = h + s.w.padBegin[0] + s.w.padEnd[0] + 1;
  const planes = s.n * s.c;
  const xRows = b.op('Pad', [b.reshape(x, [planes, h, w]), b.int64([0, s.w.padBegin[0], s.w.padBegin[1], 0, s.w.padEnd[0] + 1, s.w.padEnd[1]])]);
  const dYRows = b.op('Pad', [b.reshape(dY, [s.n * s.m, ho, wo]), b.int64([0, 0, 0, 0, 0, rowLength - wo])]);
  const offsets = kh * rowLength + 1;
  const corr = b.op('Conv', [b.reshape(xRows, [1, planes, rows * rowLength, 1]), b.reshape(dYRows, [s.n * s.m, 1, ho * rowLength, 1])], { group: planes });
  const taps: number[] = [];
  for (let a = 0; a < kh; a++) for (let c = 0; c < kw; c++) taps.push(a * rowLength + c);
  const perImage = b.op('Gather', [b.reshape(corr, [s.n * s.m, offsets]), b.int64(taps)], { axis: 1 });
  return b.reshape(b.reduceSum(b.reshape(perImage, [s.n, s.m, kh * kw]), [0], false), [s.m, 1, kh, kw]);
}

/**
 * dW in general: X as [C/g, g·N, H, W] (channels become the batch, the batch becomes channels) correlated with
 * dY as a [M, N, Ho, Wo] kernel, grouped by g, gives [C/g, M, kh, kw]; a transpose makes it [M, C/g, kh, kw].
 */
function generalWeightGrad(b: GraphBuilder, s: ConvShape, x: string, dY: string): string {
  const [h, w] = s.w.inSize;
  const [ho, wo] = s.w.outSize;
  const g = s.group;
  const cg = s.c / g;
  const mg = s.m / g;
  const xT = b.reshape(b.transpose(b.reshape(x, [s.n, g, cg, h, w]), [2, 1, 0, 3, 4]), [cg, g * s.n, h, w]);
  const kernel = g === 1 ? b.transpose(dY, [1, 0, 2, 3]) : b.reshape(b.transpose(b.reshape(dY, [s.n, g, mg, ho, wo]), [1, 2, 0, 3, 4]), [s.m, s.n, ho, wo]);
  const pads = weightGradPads(s.w);
  const corr = b.op('Conv', [xT, kernel], { group: g, strides: s.w.dilations, dilations: s.w.strides, pads });
  const size = [correlationSize(s.w, pads, 0), correlationSize(s.w, pads, 1)];
  return b.transpose(cropToKernel(b, corr, [cg, s.m, ...size], s.w.kernel), [1, 0, 2, 3]);
}

/** Formulation choices of the Conv rule; the defaults are the measured fastest, benchmarks pass others. */
export interface ConvFormulations {
  /** Stride-1 depthwise dW: by shape (default), always the batch-as-groups Conv, or overlapping rows where it applies. */
  depthwiseWeightGrad?: 'auto' | 'batch-groups' | 'overlapping-rows';
}

function depthwiseWeightGradOf(choice: ConvFormulations['depthwiseWeightGrad'], w: Window): typeof depthwiseWeightGrad {
  const overlapping = w.strides.every((st) => st === 1) && w.dilations.every((d) => d === 1);
  if (choice === 'batch-groups' || !overlapping) return depthwiseWeightGrad;
  if (choice === 'overlapping-rows' || overlappingRowsFits(w)) return overlappingRowsWeightGrad;
  return depthwiseWeightGrad;
}

export function convRuleWith(formulations: ConvFormulations = {}): GradientRule {
  return {
    differentiable: [0, 1, 2],
    backward: (ctx) => {
      const [x, weight, bias] = ctx.node.input!;
      const s = convShape(ctx);
      const dY = ctx.dY()!;
      const b = ctx.b;
      const pointwise = isTrivialWindow(s.w) && s.group === 1;
      let dX: string | undefined;
      if (ctx.needs(0)) {
        dX = b.within('dX', () => {
          if (pointwise) return pointwiseInputGrad(b, s, weight, dY);
          if (flippable(s.w)) return flippedInputGrad(b, s, weight, dY);
          return transposedInputGrad(b, s, weight, dY);
        });
      }
      let dW: string | undefined;
      if (ctx.needs(1)) {
        dW = b.within('dW', () => {
          if (pointwise) return pointwiseWeightGrad(b, s, x, dY);
          if (s.c === s.group) return depthwiseWeightGradOf(formulations.depthwiseWeightGrad, s.w)(b, s, x, dY);
          return generalWeightGrad(b, s, x, dY);
        });
      }
      const dB = bias && ctx.needs(2) ? b.within('dB', () => b.reduceSum(dY, [0, 2, 3], false)) : undefined;
      return [dX, dW, dB];
    },
  };
}

export const conv: GradientRule = convRuleWith();

export const convRules: Record<string, GradientRule> = { Conv: conv };
