import { readFileSync, writeFileSync } from 'node:fs';
import type { NamedTensor } from '../heads/classifier.js';
import { LensembleError } from '../util/errors.js';

/**
 * The safetensors format (8-byte LE header length, JSON header of dtype/shape/offsets, raw data), so head
 * weights can be read by any safetensors reader. Only F32 tensors are written.
 */
export function writeSafetensors(path: string, tensors: Record<string, NamedTensor>, metadata: Record<string, string> = {}): void {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const expected = t.shape.reduce((a, b) => a * b, 1);
    if (expected !== t.data.length) throw new Error(`tensor ${name}: shape [${t.shape}] needs ${expected} values, has ${t.data.length}`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let headerJson = JSON.stringify(header);
  headerJson += ' '.repeat((8 - (headerJson.length % 8)) % 8);
  const headerBytes = Buffer.from(headerJson, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let cursor = 8 + headerBytes.length;
  for (const name of names) {
    const { data } = tensors[name];
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, cursor);
    cursor += data.byteLength;
  }
  writeFileSync(path, out);
}

export function readSafetensors(path: string): Record<string, NamedTensor> {
  const file = readFileSync(path);
  if (file.length < 8) throw new LensembleError('not a safetensors file (too short)', path);
  const headerLength = Number(file.readBigUInt64LE(0));
  if (8 + headerLength > file.length) throw new LensembleError('not a safetensors file (bad header length)', path);
  const header = JSON.parse(file.toString('utf8', 8, 8 + headerLength)) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + headerLength;
  const out: Record<string, NamedTensor> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new LensembleError(`tensor ${name} has dtype ${info.dtype}; only F32 is supported`, path);
    const [start, end] = info.data_offsets;
    const data = new Float32Array((end - start) / 4);
    new Uint8Array(data.buffer).set(file.subarray(base + start, base + end));
    out[name] = { shape: info.shape, data };
  }
  return out;
}
