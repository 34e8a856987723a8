// Reverse-mode differentiation of an ONNX graph into more ONNX nodes: per-op rules applied in reverse topological
// order, gradients summed where a value fans out, and only the paths from the seeds back to the values asked
// for (everything else — a frozen stem, shape computations — gets no gradient nodes).
import { LensembleError } from '../util/errors.js';
import { describeNode } from './attributes.js';
import type { GraphBuilder } from './graph-builder.js';
import type { NodeProto, TensorProto } from './onnx-io.js';
import { gradientRules } from './rules/index.js';
import { differentiableSlots, type GradContext, type GradientRule } from './rules/rule.js';
import type { ShapeMap } from './static-shapes.js';

export interface BackwardRequest {
  /** The forward nodes in topological order; a rule may add outputs to them (see {@link GradContext.forwardOutput}). */
  nodes: NodeProto[];
  shapes: ShapeMap;
  /** Values (graph inputs or initializers) whose gradients are wanted. */
  wrt: readonly string[];
  /** Value → the name of its incoming gradient (dL/dvalue), e.g. a graph input or a loss node's output. */
  seeds: ReadonlyMap<string, string>;
  /** Constant tensors by value name (initializers, Constant node outputs), for rules that read attributes-as-inputs. */
  constants: ReadonlyMap<string, TensorProto>;
  builder: GraphBuilder;
  source?: string;
  rules?: Readonly<Record<string, GradientRule>>;
}

const isFloat = (type: string | undefined) => type === 'float32' || type === 'float64' || type === 'float16';

interface Plan {
  /** Values a gradient flows into, on some path from a seed back to a wanted value. */
  flowing: Set<string>;
  active: NodeProto[];
}

/** Which nodes the backward pass visits; errors listing every op without a rule before anything is built. */
function plan(request: Omit<BackwardRequest, 'builder'>): Plan {
  const rules = request.rules ?? gradientRules;
  const source = request.source ?? 'model';
  const dependsOnWrt = new Set(request.wrt);
  for (const node of request.nodes) {
    const rule = node.domain ? undefined : rules[node.opType!];
    const slots = rule ? differentiableSlots(rule, node) : node.input!.map((_, i) => i);
    if (!slots.some((i) => dependsOnWrt.has(node.input![i]))) continue;
    for (const out of node.output ?? []) if (out && isFloat(request.shapes.get(out)?.type)) dependsOnWrt.add(out);
  }
  const flowing = new Set([...request.seeds.keys()].filter((v) => dependsOnWrt.has(v)));
  const active: NodeProto[] = [];
  const missing: string[] = [];
  for (let k = request.nodes.length - 1; k >= 0; k--) {
    const node = request.nodes[k];
    if (!(node.output ?? []).some((o) => flowing.has(o))) continue;
    const rule = node.domain ? undefined : rules[node.opType!];
    const slots = rule ? differentiableSlots(rule, node) : node.input!.map((_, i) => i);
    const into = slots.filter((i) => dependsOnWrt.has(node.input![i]));
    if (!into.length) continue;
    if (!rule) missing.push(`${node.domain ? `${node.domain}.` : ''}${describeNode(node)}`);
    active.push(node);
    for (const i of into) flowing.add(node.input![i]);
  }
  if (missing.length) {
    const ops = [...new Set(missing.map((m) => m.split(' ')[0]))];
    throw new LensembleError(`no gradient rule for ${ops.join(', ')} (${missing.slice(0, 8).join('; ')}${missing.length > 8 ? '; …' : ''})`, source);
  }
  return { flowing, active };
}

/** Lists the ops on the gradient path that have no rule, without building anything (empty when all have one). */
export function missingGradientRules(request: Omit<BackwardRequest, 'builder'>): string[] {
  try {
    plan(request);
    return [];
  } catch (err) {
    if (err instanceof LensembleError) return [err.message];
    throw err;
  }
}

/** Builds the backward nodes into `request.builder`; returns each wanted value's gradient (undefined when none reaches it). */
export function buildBackward(request: BackwardRequest): Map<string, string | undefined> {
  const rules = request.rules ?? gradientRules;
  const source = request.source ?? 'model';
  const b = request.builder;
  const { flowing, active } = plan(request);
  const contributions = new Map<string, string[]>();
  const contribute = (value: string, grad: string) => {
    const list = contributions.get(value);
    if (list) list.push(grad);
    else contributions.set(value, [grad]);
  };
  const total = (value: string): string | undefined => {
    const list = contributions.get(value);
    if (!list?.length) return undefined;
    const sum = list.length === 1 ? list[0] : b.op('Sum', list);
    contributions.set(value, [sum]);
    return sum;
  };
  for (const [value, grad] of request.seeds) if (flowing.has(value)) contribute(value, grad);

  for (const node of active) {
    const rule = rules[node.opType!];
    const slots = new Set(differentiableSlots(rule, node));
    const needs = (i: number) => slots.has(i) && Boolean(node.input![i]) && flowing.has(node.input![i]);
    const fail = (message: string) => new LensembleError(`${describeNode(node)}: ${message}`, source);
    const ctx: GradContext = {
      node,
      b,
      dims: (value) => {
        const shape = request.shapes.get(value);
        if (!shape) throw fail(`no static shape known for ${value}`);
        return shape.dims;
      },
      dY: (index = 0) => total(node.output![index]),
      needs,
      constant: (value) => request.constants.get(value),
      forwardOutput: (index) => {
        const outputs = node.output!;
        while (outputs.length <= index) outputs.push('');
        if (!outputs[index]) outputs[index] = b.fresh(`${node.output![0]}_out${index}`);
        return outputs[index];
      },
      fail,
    };
    if (!node.output!.some((o) => contributions.get(o)?.length)) continue;
    b.scope = `grad(${node.name || node.output![0]})`;
    const grads = rule.backward(ctx);
    b.scope = '';
    node.input!.forEach((input, i) => {
      if (!needs(i)) return;
      const grad = grads[i];
      if (!grad) throw fail(`the rule gave no gradient for input ${i} (${input})`);
      contribute(input, grad);
    });
  }
  return new Map(request.wrt.map((w) => [w, total(w)]));
}
