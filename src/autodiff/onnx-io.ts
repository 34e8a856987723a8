// Reading and writing ONNX ModelProto with `onnx-proto` (protobufjs static code generated from onnx.proto).
import onnxProto from 'onnx-proto';
import { LensembleError } from '../util/errors.js';

export const { onnx } = onnxProto;
export type Model = onnxProto.onnx.IModelProto;
export type Graph = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfo = onnxProto.onnx.IValueInfoProto;

export const DataType = onnx.TensorProto.DataType;
export const AttributeType = onnx.AttributeProto.AttributeType;

/** An int64 field as protobufjs decodes it (a number or a Long). */
type Int64 = number | { toNumber(): number };
export const toNumber = (value: Int64 | null | undefined): number =>
  value == null ? 0 : typeof value === 'number' ? value : value.toNumber();

export function decodeModel(bytes: Uint8Array, source = 'model'): Model {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new LensembleError(`not an ONNX model (${err instanceof Error ? err.message : String(err)})`, source);
  }
}

export function encodeModel(model: Model): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** The graph of a model, or an error naming the source when it has none. */
export function graphOf(model: Model, source = 'model'): Graph {
  if (!model.graph) throw new LensembleError('ONNX model has no graph', source);
  return model.graph;
}

/** A float tensor: its data and dims. */
export interface FloatTensor {
  dims: number[];
  data: Float32Array;
}

export const tensorDims = (t: TensorProto): number[] => (t.dims ?? []).map(toNumber);
export const elementCount = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** A float32 initializer's values (raw_data or float_data); errors on other types and external data. */
export function floatTensorData(t: TensorProto, source = 'model'): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new LensembleError(`initializer ${t.name} is not float32 (data type ${t.dataType})`, source);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new LensembleError(`initializer ${t.name} keeps its data in an external file, which is not supported`, source);
  }
  const count = elementCount(tensorDims(t));
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== count * 4) throw new LensembleError(`initializer ${t.name}: ${t.rawData.length} bytes for ${count} floats`, source);
    const out = new Float32Array(count);
    new Uint8Array(out.buffer).set(t.rawData);
    return out;
  }
  const values = t.floatData ?? [];
  if (values.length !== count) throw new LensembleError(`initializer ${t.name}: ${values.length} values for ${count}`, source);
  return Float32Array.from(values);
}

/** An int64 tensor's values as numbers (raw_data or int64_data). */
export function int64TensorData(t: TensorProto): number[] {
  if (t.rawData && t.rawData.length > 0) {
    const view = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
    return Array.from({ length: t.rawData.length / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  }
  return (t.int64Data ?? []).map(toNumber);
}

const bytesOf = (data: ArrayBufferView): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();

export function floatTensorProto(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  if (elementCount(dims) !== data.length) throw new Error(`tensor ${name}: dims [${dims}] need ${elementCount(dims)} values, got ${data.length}`);
  return { name, dims: [...dims], dataType: DataType.FLOAT, rawData: bytesOf(data) };
}

export function int64TensorProto(name: string, dims: readonly number[], values: readonly number[]): TensorProto {
  return { name, dims: [...dims], dataType: DataType.INT64, rawData: bytesOf(BigInt64Array.from(values.map(BigInt))) };
}

/**
 * The same model with some float initializers' values replaced (e.g. a fine-tuned backbone: the original graph,
 * new weights). Every replaced name must be an initializer of that shape.
 */
export function withInitializerValues(model: Model, values: ReadonlyMap<string, Float32Array>, source = 'model'): Model {
  const graph = graphOf(model, source);
  const seen = new Set<string>();
  const initializer = (graph.initializer ?? []).map((t) => {
    const data = values.get(t.name ?? '');
    if (!data) return t;
    seen.add(t.name!);
    const dims = tensorDims(t);
    if (elementCount(dims) !== data.length) {
      throw new LensembleError(`initializer ${t.name} has ${elementCount(dims)} values, the new weights ${data.length}`, source);
    }
    return floatTensorProto(t.name!, dims, data);
  });
  const missing = [...values.keys()].filter((n) => !seen.has(n));
  if (missing.length) throw new LensembleError(`no initializers named ${missing.slice(0, 5).join(', ')}`, source);
  return { ...model, graph: { ...graph, initializer } };
}

/** The float32 initializers of a graph by name. */
export function floatInitializers(model: Model, source = 'model'): Map<string, FloatTensor> {
  const out = new Map<string, FloatTensor>();
  for (const t of graphOf(model, source).initializer ?? []) {
    if (t.dataType === DataType.FLOAT) out.set(t.name!, { dims: tensorDims(t), data: floatTensorData(t, source) });
  }
  return out;
}
