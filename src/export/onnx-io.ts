// Reading and writing ONNX ModelProto with `onnx-proto` (protobufjs code generated from onnx.proto), the
// package the project uses for ONNX IO.
import { floatTensorProto, int64TensorProto, onnx, type AttributeProto as AttributeProtoType, type TensorProto, type ValueInfo } from '../autodiff/onnx-io.js';

// One ONNX IO for the project: the autodiff's (src/autodiff/onnx-io.ts), under the proto names export code reads.
export {
  AttributeType,
  DataType,
  decodeModel,
  encodeModel,
  onnx,
  toNumber,
  type AttributeProto,
  type Graph as GraphProto,
  type Model as ModelProto,
  type NodeProto,
  type TensorProto,
} from '../autodiff/onnx-io.js';
export type ValueInfoProto = ValueInfo;

const AttributeTypes = onnx.AttributeProto.AttributeType;

export function floatTensor(name: string, dims: readonly number[], data: ArrayLike<number>): TensorProto {
  return floatTensorProto(name, dims, Float32Array.from(data));
}

export const int64Tensor = int64TensorProto;

/** A graph input or output: element type and dims (a string names a symbolic dimension). */
export function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfo {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

export type AttributeValue = number | number[] | string | { float: number } | { floats: number[] } | TensorProto;

/** Node attributes from plain values: integers and integer lists as INT(S), `{ float }` as FLOAT, strings as STRING. */
export function attributes(values: Record<string, AttributeValue>): AttributeProtoType[] {
  return Object.entries(values).map(([name, v]): AttributeProtoType => {
    if (typeof v === 'number') return { name, type: AttributeTypes.INT, i: v };
    if (typeof v === 'string') return { name, type: AttributeTypes.STRING, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) return { name, type: AttributeTypes.INTS, ints: v };
    if ('float' in v) return { name, type: AttributeTypes.FLOAT, f: v.float };
    if ('floats' in v) return { name, type: AttributeTypes.FLOATS, floats: v.floats };
    return { name, type: AttributeTypes.TENSOR, t: v };
  });
}
