import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import mozjpegFactory from '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
import { wasmApi } from '../util/wasm-module.js';
import type { RawImage } from './raw-image.js';

interface MozjpegDecoder {
  decode(data: Uint8Array, applyOrientation: boolean): { data: Uint8ClampedArray; width: number; height: number } | null;
}

type MozjpegFactory = (options: Record<string, unknown>) => Promise<MozjpegDecoder>;

let decoder: Promise<MozjpegDecoder> | undefined;
/** libjpeg's warnings (truncation, corrupt data) during the decode in progress: it fills the gaps with grey and goes on. */
let warnings: string[] = [];

function loadDecoder(): Promise<MozjpegDecoder> {
  decoder ??= (() => {
    const wasmPath = createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm');
    if (!wasmApi) throw new Error('WebAssembly is not available');
    const api = wasmApi;
    const wasm = new api.Module(readFileSync(wasmPath));
    return (mozjpegFactory as unknown as MozjpegFactory)({
      noInitialRun: true,
      instantiateWasm: (imports: object, done: (instance: { exports: unknown }) => void) => {
        const instance = new api.Instance(wasm, imports);
        done(instance);
        return instance.exports;
      },
      print: (message: string) => warnings.push(message),
      printErr: (message: string) => warnings.push(message),
    });
  })();
  return decoder;
}

/**
 * Decodes a JPEG with mozjpeg compiled to WebAssembly (the libjpeg sharp's libvips uses), EXIF orientation
 * applied, to RGB. About 2.5× cheaper than a sharp call for a small photo, whose fixed per-call cost dominates
 * (BENCHMARKS.md, "Decoding"). Returns undefined on any warning or error — truncated or corrupt data, a
 * colour space it cannot convert — so that the caller hands the file to sharp, which decides and explains.
 */
export async function decodeJpegWasm(bytes: Uint8Array): Promise<RawImage | undefined> {
  const mozjpeg = await loadDecoder().catch(() => undefined);
  if (!mozjpeg) return undefined;
  warnings = [];
  let decoded: ReturnType<MozjpegDecoder['decode']>;
  try {
    decoded = mozjpeg.decode(bytes, true);
  } catch {
    return undefined; // libjpeg's fatal errors end in an emscripten exit(); the module stays usable
  }
  if (!decoded || warnings.length > 0) return undefined;
  const { width, height } = decoded;
  const rgba = decoded.data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { data: rgb, width, height, channels: 3 };
}
