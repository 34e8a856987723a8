// Reading and writing ONNX ModelProto with `onnx-proto` (protobufjs code generated from onnx.proto), the
// package the project uses for ONNX IO.
import onnxProto from 'onnx-proto';
import { LensembleError, errorMessage } from '../util/errors.js';

export const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.IModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const DataType = onnx.TensorProto.DataType;
export const AttributeType = onnx.AttributeProto.AttributeType;

/** An int64 field as protobufjs decodes it (a number or a Long). */
type Int64 = number | { toNumber(): number };
export const toNumber = (value: Int64 | null | undefined): number => (value == null ? 0 : typeof value === 'number' ? value : value.toNumber());

export function decodeModel(bytes: Uint8Array, source: string): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new LensembleError(`not an ONNX model (${errorMessage(err)})`, source);
  }
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

const bytesOf = (data: ArrayBufferView): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();

export function floatTensor(name: string, dims: readonly number[], data: ArrayLike<number>): TensorProto {
  const values = Float32Array.from(data);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== values.length) throw new Error(`tensor ${name}: dims [${dims}] need ${count} values, got ${values.length}`);
  return { name, dims: [...dims], dataType: DataType.FLOAT, rawData: bytesOf(values) };
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  return { name, dims: [...dims], dataType: DataType.INT64, rawData: bytesOf(BigInt64Array.from(values.map(BigInt))) };
}

/** A graph input or output: element type and dims (a string names a symbolic dimension). */
export function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

export type AttributeValue = number | number[] | string | { float: number } | { floats: number[] } | TensorProto;

/** Node attributes from plain values: integers and integer lists as INT(S), `{ float }` as FLOAT, strings as STRING. */
export function attributes(values: Record<string, AttributeValue>): AttributeProto[] {
  return Object.entries(values).map(([name, v]): AttributeProto => {
    if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
    if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
    if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float };
    if ('floats' in v) return { name, type: AttributeType.FLOATS, floats: v.floats };
    return { name, type: AttributeType.TENSOR, t: v };
  });
}
