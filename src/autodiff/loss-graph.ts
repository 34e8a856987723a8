// Softmax cross-entropy with label smoothing (fastai LabelSmoothingCrossEntropy, mean over the batch) as graph
// nodes, with its gradient written directly: dL/dlogits = (softmax − q)/N, q = (1 − ε)·onehot + ε/C.
import type { GraphBuilder } from './graph-builder.js';

export function smoothedCrossEntropyNodes(
  b: GraphBuilder,
  logits: string,
  labels: string,
  rows: number,
  classes: number,
  smoothing: number,
  lossOutput: string,
): { loss: string; dLogits: string } {
  const target = b.op('OneHot', [labels, b.int64([classes], []), b.float32([smoothing / classes, 1 - smoothing + smoothing / classes])], { axis: -1 });
  const logProbs = b.op('LogSoftmax', [logits], { axis: 1 });
  const loss = b.op('Mul', [b.reduceSum(b.op('Mul', [target, logProbs]), [0, 1], false), b.scalar(-1 / rows)], {}, lossOutput);
  const dLogits = b.op('Mul', [b.op('Sub', [b.op('Exp', [logProbs]), target]), b.scalar(1 / rows)]);
  return { loss, dLogits };
}
