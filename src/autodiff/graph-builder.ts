// Emits ONNX nodes and constant initializers with fresh, collision-free names.
import { AttributeType, floatTensorProto, int64TensorProto, type AttributeProto, type NodeProto, type TensorProto } from './onnx-io.js';

/** An attribute value: an integer, a list of integers, a float (`float(x)`), a string or a tensor. */
export type AttrValue = number | readonly number[] | { float: number } | string | { tensor: TensorProto };
export type Attrs = Record<string, AttrValue | undefined>;

export const float = (value: number): { float: number } => ({ float: value });

export function makeAttribute(name: string, value: AttrValue): AttributeProto {
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value };
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: [...value] };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('tensor' in value) return { name, type: AttributeType.TENSOR, t: value.tensor };
  throw new Error(`attribute ${name}: unsupported value`);
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used: Set<string>;
  private counter = 0;
  private readonly constants = new Map<string, string>();
  /** Written into the names of the nodes added meanwhile (e.g. the forward node whose gradient they compute), for profiles. */
  scope = '';

  /** `taken`: every name already used in the graph (values and nodes); `prefix` marks what this builder adds. */
  constructor(taken: Iterable<string>, private readonly prefix: string) {
    this.used = new Set(taken);
  }

  /** A name not used yet, derived from `hint`. */
  fresh(hint: string): string {
    let name = `${this.prefix}${hint}`;
    while (this.used.has(name)) name = `${this.prefix}${hint}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  /** Runs `build` with `/label` appended to the scope (profiles tell a rule's parts apart by it). */
  within<T>(label: string, build: () => T): T {
    const outer = this.scope;
    this.scope = outer ? `${outer}/${label}` : label;
    try {
      return build();
    } finally {
      this.scope = outer;
    }
  }

  /** Claims an exact name (graph inputs/outputs of the built model); errors when it is taken. */
  claim(name: string): string {
    if (this.used.has(name)) throw new Error(`name ${name} is already used in the graph`);
    this.used.add(name);
    return name;
  }

  /** Adds a node and returns its outputs (fresh names unless given). */
  opN(opType: string, inputs: readonly string[], outputs: number | readonly string[], attrs: Attrs = {}, domain = ''): string[] {
    const outNames = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : [...outputs];
    const attribute = Object.entries(attrs)
      .filter((e): e is [string, AttrValue] => e[1] !== undefined)
      .map(([k, v]) => makeAttribute(k, v));
    this.nodes.push({ name: this.fresh(`${this.scope ? `${this.scope}/` : ''}node_${opType}`), opType, domain, input: [...inputs], output: outNames, attribute });
    return outNames;
  }

  /** Adds a single-output node and returns its output. */
  op(opType: string, inputs: readonly string[], attrs: Attrs = {}, output?: string): string {
    return this.opN(opType, inputs, output ? [output] : 1, attrs)[0];
  }

  /** A shared int64 constant (shapes, axes, indices). */
  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant(`i64:${dims}:${values}`, (name) => int64TensorProto(name, dims, values));
  }

  /** A shared float32 constant. */
  float32(values: readonly number[] | Float32Array, dims: readonly number[] = [values.length]): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    const key = data.length <= 16 ? `f32:${dims}:${Array.from(data)}` : undefined;
    if (!key) {
      const name = this.fresh('const');
      this.initializers.push(floatTensorProto(name, dims, data));
      return name;
    }
    return this.constant(key, (name) => floatTensorProto(name, dims, data));
  }

  scalar(value: number): string {
    return this.float32([value], []);
  }

  /** A float input reshaped (no copy in ONNX Runtime). */
  reshape(value: string, dims: readonly number[]): string {
    return this.op('Reshape', [value, this.int64(dims)]);
  }

  transpose(value: string, perm: readonly number[]): string {
    return this.op('Transpose', [value], { perm });
  }

  reduceSum(value: string, axes: readonly number[], keepdims: boolean): string {
    return this.op('ReduceSum', [value, this.int64(axes)], { keepdims: keepdims ? 1 : 0 });
  }

  private constant(key: string, make: (name: string) => TensorProto): string {
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.fresh('const');
    this.initializers.push(make(name));
    this.constants.set(key, name);
    return name;
  }
}
