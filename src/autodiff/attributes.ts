// Typed reads of a node's attributes.
import { toNumber, type NodeProto } from './onnx-io.js';

const find = (node: NodeProto, name: string) => node.attribute?.find((a) => a.name === name);

export function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = find(node, name);
  return a ? toNumber(a.i) : fallback;
}

export function attrFloat(node: NodeProto, name: string, fallback: number): number {
  const a = find(node, name);
  return a ? (a.f ?? 0) : fallback;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = find(node, name);
  return a ? (a.ints ?? []).map(toNumber) : undefined;
}

export function attrString(node: NodeProto, name: string, fallback: string): string {
  const a = find(node, name);
  return a?.s ? new TextDecoder().decode(a.s) : fallback;
}

export const hasAttr = (node: NodeProto, name: string): boolean => find(node, name) !== undefined;

/** How a node is named in errors: its name, or its op type and first output. */
export const describeNode = (node: NodeProto): string => `${node.opType} node ${node.name || `producing ${node.output?.[0]}`}`;
