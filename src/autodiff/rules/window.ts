// Sliding-window geometry shared by Conv and pooling rules: explicit pads, strides, dilations per spatial axis.
import { attrInt, attrInts, attrString } from '../attributes.js';
import type { GradContext } from './rule.js';

export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Begin pads per spatial axis. */
  padBegin: number[];
  /** End pads per spatial axis. */
  padEnd: number[];
  /** Input and output spatial sizes. */
  inSize: number[];
  outSize: number[];
}

/** Reads the window of a Conv/pool node, turning auto_pad into explicit pads (as ONNX Runtime computes them). */
export function readWindow(ctx: GradContext, kernel: number[]): Window {
  const node = ctx.node;
  const inSize = ctx.dims(node.input![0]).slice(2);
  const outSize = ctx.dims(node.output![0]).slice(2);
  const rank = inSize.length;
  const strides = attrInts(node, 'strides') ?? Array(rank).fill(1);
  const dilations = attrInts(node, 'dilations') ?? Array(rank).fill(1);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  let pads = attrInts(node, 'pads') ?? Array(2 * rank).fill(0);
  if (autoPad === 'VALID') pads = Array(2 * rank).fill(0);
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = Array(2 * rank).fill(0);
    for (let i = 0; i < rank; i++) {
      const total = Math.max(0, (outSize[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - inSize[i]);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i + rank] = total - pads[i];
    }
  }
  if (attrInt(node, 'ceil_mode', 0) && autoPad !== 'NOTSET') throw ctx.fail('ceil_mode with auto_pad is not supported');
  return { kernel, strides, dilations, padBegin: pads.slice(0, rank), padEnd: pads.slice(rank), inSize, outSize };
}

/** Span of the dilated kernel on one axis. */
export const span = (w: Window, i: number): number => (w.kernel[i] - 1) * w.dilations[i] + 1;

/**
 * Pads and output_padding for a ConvTranspose that maps a gradient at the output size back onto exactly the input
 * size: the end pad absorbs windows that reach past the input (ceil mode), output_padding the rows no window
 * reached (floor mode).
 */
export function transposePads(w: Window): { pads: number[]; outputPadding: number[] } {
  const rank = w.inSize.length;
  const end: number[] = [];
  const outputPadding: number[] = [];
  for (let i = 0; i < rank; i++) {
    const full = w.strides[i] * (w.outSize[i] - 1) + span(w, i) - w.padBegin[i];
    const padEnd = Math.max(0, full - w.inSize[i]);
    end.push(padEnd);
    outputPadding.push(w.inSize[i] - (full - padEnd));
  }
  return { pads: [...w.padBegin, ...end], outputPadding };
}

export const isTrivialWindow = (w: Window): boolean =>
  w.kernel.every((k) => k === 1) && w.strides.every((s) => s === 1) && [...w.padBegin, ...w.padEnd].every((p) => p === 0);
