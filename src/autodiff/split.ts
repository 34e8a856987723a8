// Splitting a backbone at the frozen prefix's output, so that the cut activation can be cached per image × view
// and only the trainable tail runs each epoch (`trainable: { last: K }`).
import { LensembleError } from '../util/errors.js';
import { liveNodes, usedInitializers, valueInfo } from './model-assembly.js';
import { encodeModel, graphOf, type Model, type NodeProto, type ValueInfo } from './onnx-io.js';

export interface SplitModel {
  /** Data input → the cut activation (as output `cut`). */
  prefix: Uint8Array;
  /** The cut activation (input named as the cut value) → the original outputs that depend on it. */
  tail: Uint8Array;
  /** The value at the cut: the prefix's output and the tail's input. */
  cut: string;
}

/**
 * Splits `model` at value `cut` (e.g. {@link resolveTrainable}'s `cut`). The tail keeps every requested output
 * (default: all original outputs that depend on the cut) and must need nothing else computed before the cut.
 */
export function splitAt(model: Model, cut: string, options: { outputs?: string[]; source?: string } = {}): SplitModel {
  const source = options.source ?? 'model';
  const graph = graphOf(model, source);
  const nodes = graph.node ?? [];
  if (!nodes.some((n) => n.output?.includes(cut))) throw new LensembleError(`no node produces ${cut}`, source);
  const prefixNodes = liveNodes(nodes, [cut]);
  const dependsOnCut = new Set([cut]);
  for (const n of nodes) if (n.input!.some((i) => dependsOnCut.has(i))) n.output!.forEach((o) => dependsOnCut.add(o));
  const outputs = options.outputs ?? (graph.output ?? []).map((o) => o.name!).filter((o) => dependsOnCut.has(o));
  if (!outputs.length) throw new LensembleError(`no output depends on ${cut}`, source);
  for (const o of outputs) if (!dependsOnCut.has(o)) throw new LensembleError(`output ${o} does not depend on ${cut}`, source);
  const prefixSet = new Set(prefixNodes);
  const tailNodes = liveNodes(nodes, outputs).filter((n) => !prefixSet.has(n));
  // Values the tail reads that neither the cut, an initializer, nor a tail node provides.
  const provided = new Set([cut, ...(graph.initializer ?? []).map((t) => t.name!), ...tailNodes.flatMap((n) => n.output ?? [])]);
  const missing = [...new Set(tailNodes.flatMap((n) => n.input ?? []).filter((i) => i && !provided.has(i)))];
  if (missing.length) throw new LensembleError(`the tail after ${cut} also needs ${missing.slice(0, 3).join(', ')} from before the cut`, source);
  const originalOutput = new Map((graph.output ?? []).map((o) => [o.name!, o]));
  const part = (name: string, partNodes: NodeProto[], input: ValueInfo[], out: string[]): Uint8Array =>
    encodeModel({
      ...model,
      graph: {
        ...graph,
        name,
        node: partNodes,
        initializer: usedInitializers(graph.initializer ?? [], partNodes),
        input,
        output: out.map((o) => originalOutput.get(o) ?? valueInfo(o, undefined)),
        valueInfo: [],
      },
    });
  const initNames = new Set((graph.initializer ?? []).map((t) => t.name!));
  const dataInputs = (graph.input ?? []).filter((i) => !initNames.has(i.name!));
  return {
    cut,
    prefix: part(`${graph.name ?? 'model'}-prefix`, prefixNodes, dataInputs, [cut]),
    tail: part(`${graph.name ?? 'model'}-tail`, tailNodes, [valueInfo(cut, undefined)], outputs),
  };
}
