// Gradients through numpy-style broadcasting: sum over the axes an operand was broadcast along.
import type { GraphBuilder } from '../graph-builder.js';

const sameDims = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** `grad` (dims `from`) summed down to `to`, the dims of an operand that was broadcast to `from`. */
export function reduceToShape(b: GraphBuilder, grad: string, from: readonly number[], to: readonly number[]): string {
  if (sameDims(from, to)) return grad;
  const offset = from.length - to.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    const target = i < offset ? 1 : to[i - offset];
    if (target === 1 && from[i] !== 1) axes.push(i);
  }
  const summed = axes.length ? b.reduceSum(grad, axes, true) : grad;
  return b.reshape(summed, to);
}
