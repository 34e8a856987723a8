// What a per-op gradient rule sees and returns.
import type { GraphBuilder } from '../graph-builder.js';
import type { NodeProto, TensorProto } from '../onnx-io.js';

export interface GradContext {
  node: NodeProto;
  b: GraphBuilder;
  /** Static dims of a value (input, output or anything computed in the forward graph). */
  dims(value: string): number[];
  /** dL/d(output `index`), or undefined where no gradient reaches that output. */
  dY(index?: number): string | undefined;
  /** Whether input `index` needs a gradient. */
  needs(index: number): boolean;
  /** The value of a constant input (initializer or Constant node), or undefined when it is computed. */
  constant(value: string): TensorProto | undefined;
  /**
   * The name of forward output `index` of this node, adding that output when the model does not produce it
   * (e.g. MaxPool's indices): the node runs once in the step graph, so the extra output is free.
   */
  forwardOutput(index: number): string;
  /** An error naming this node. */
  fail(message: string): Error;
}

export interface GradientRule {
  /** Input slots a gradient can flow into (others — shapes, axes, clip bounds — are constants of the rule). */
  differentiable: readonly number[] | ((node: NodeProto) => readonly number[]);
  /** One gradient per input slot, undefined where not needed; each has the dims of its input. */
  backward(ctx: GradContext): (string | undefined)[];
}

export const differentiableSlots = (rule: GradientRule, node: NodeProto): readonly number[] =>
  typeof rule.differentiable === 'function' ? rule.differentiable(node) : rule.differentiable;
