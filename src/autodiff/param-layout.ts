// Trainable parameters packed into flat buffers ("buckets"): one per (layer group, decayed or not), so a step
// graph takes and returns a handful of tensors and the optimizer runs on whole buckets.
import { LensembleError } from '../util/errors.js';
import type { GraphBuilder } from './graph-builder.js';
import { elementCount, type FloatTensor } from './onnx-io.js';

export interface ParamSlot {
  name: string;
  dims: number[];
  offset: number;
  length: number;
}

export interface Bucket {
  /** Graph input/output stem: `<id>.param`, `<id>.exp_avg`, `<id>.exp_avg_sq`. */
  id: string;
  group: number;
  /** Weight decay applies (false for biases and other 1-D tensors, as fastai's wd_bn_bias=False). */
  decay: boolean;
  params: ParamSlot[];
  length: number;
}

export interface ParamLayout {
  buckets: Bucket[];
  groups: number;
  /** Parameter name → its bucket and slot. */
  where: Map<string, { bucket: Bucket; slot: ParamSlot }>;
}

/** Decayed parameters: matrices and kernels; biases, norm scales and other vectors are not decayed. */
export const decayedByDefault = (dims: readonly number[]): boolean => dims.length > 1;

export function layoutParams(groups: readonly (readonly string[])[], dimsOf: (name: string) => number[], decays: (name: string, dims: number[]) => boolean = (_, d) => decayedByDefault(d)): ParamLayout {
  const buckets: Bucket[] = [];
  const where = new Map<string, { bucket: Bucket; slot: ParamSlot }>();
  const seen = new Set<string>();
  for (const name of groups.flat()) {
    if (seen.has(name)) throw new LensembleError(`parameter ${name} is in two layer groups`);
    seen.add(name);
  }
  groups.forEach((names, group) => {
    for (const decay of [true, false]) {
      const bucket: Bucket = { id: `g${group}${decay ? '' : '_nodecay'}`, group, decay, params: [], length: 0 };
      for (const name of names) {
        const dims = dimsOf(name);
        if (decays(name, dims) !== decay) continue;
        const slot = { name, dims, offset: bucket.length, length: elementCount(dims) };
        bucket.params.push(slot);
        bucket.length += slot.length;
        where.set(name, { bucket, slot });
      }
      if (bucket.length) buckets.push(bucket);
    }
  });
  return { buckets, groups: groups.length, where };
}

/** Emits the nodes that cut each parameter out of its bucket input, named as the parameter itself. */
export function unpackParams(b: GraphBuilder, bucket: Bucket, input: string, nameOf: (param: string) => string = (p) => p): void {
  for (const slot of bucket.params) {
    const flat = b.op('Slice', [input, b.int64([slot.offset]), b.int64([slot.offset + slot.length]), b.int64([0])]);
    b.op('Reshape', [flat, b.int64(slot.dims)], {}, nameOf(slot.name));
  }
}

/** Packs tensors by name into a bucket's flat layout. */
export function packBucket(bucket: Bucket, values: (name: string) => Float32Array): Float32Array {
  const out = new Float32Array(bucket.length);
  for (const slot of bucket.params) {
    const data = values(slot.name);
    if (data.length !== slot.length) throw new LensembleError(`parameter ${slot.name}: ${data.length} values, expected ${slot.length}`);
    out.set(data, slot.offset);
  }
  return out;
}

/** The named tensors in a set of bucket buffers (views, no copy). */
export function unpackBuckets(layout: ParamLayout, buffers: readonly Float32Array[]): Map<string, FloatTensor> {
  const out = new Map<string, FloatTensor>();
  layout.buckets.forEach((bucket, i) => {
    for (const slot of bucket.params) out.set(slot.name, { dims: slot.dims, data: buffers[i].subarray(slot.offset, slot.offset + slot.length) });
  });
  return out;
}
