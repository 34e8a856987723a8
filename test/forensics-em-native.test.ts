import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bindNativePass, nativeEmIsa, nativeEmStatus } from '../src/forensics/em-native.js';
import { estimateChannelKernel, extractTraces, type ImageTrace, type TraceOptions } from '../src/forensics/em-trace.js';
import { createTracePool } from '../src/forensics/trace-pool.js';
import type { RawImage } from '../src/images/raw-image.js';
import { expectFloat32PassLikeFloat64 } from './support/em-float32-pass.js';
import { decodeRgb as decode, faceFiles, texturedImage } from './support/em-images.js';

/**
 * The native float32 pass (native/, backend 'native'), every instruction set the addon offers on
 * this processor (forced by LENSEMBLE_EM_NATIVE_ISA), against the float64 pass (backend 'wasm',
 * itself checked against the TypeScript pass and numpy): kernels within 1e-5 and the same
 * iteration counts, on real photos and GAN faces and on generated images of every row-tail length.
 */
const KERNEL_TOLERANCE = 1e-5;

const status = nativeEmStatus();
const isas = status.loaded ? status.isas.map((i) => i.name) : [];


function withIsa<T>(isa: string, work: () => T): T {
  const previous = process.env.LENSEMBLE_EM_NATIVE_ISA;
  process.env.LENSEMBLE_EM_NATIVE_ISA = isa;
  try {
    return work();
  } finally {
    if (previous === undefined) delete process.env.LENSEMBLE_EM_NATIVE_ISA;
    else process.env.LENSEMBLE_EM_NATIVE_ISA = previous;
  }
}

/** Every offered instruction set's traces against the float64 pass's: the worst kernel difference, iterations equal. */
function expectMatchesFloat64(image: RawImage, options: Partial<TraceOptions>, label: string): number {
  const reference = extractTraces(image, options, 'wasm');
  let worst = 0;
  for (const isa of isas) {
    const fast: ImageTrace = withIsa(isa, () => extractTraces(image, options, 'native'));
    fast.channels.forEach((c, i) => {
      const r = reference.channels[i];
      expect(c.iterations, `${label} ${isa} channel ${i}`).toBe(r.iterations);
      expect(Math.abs(c.sigma - r.sigma) / Math.max(r.sigma, 1e-12), `${label} ${isa} σ`).toBeLessThan(1e-5);
      c.kernel.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - r.kernel[j]))));
    });
    expect(worst, `${label} ${isa}`).toBeLessThan(KERNEL_TOLERANCE);
  }
  return worst;
}


afterEach(() => {
  delete process.env.LENSEMBLE_EM_NATIVE_ISA;
  delete process.env.LENSEMBLE_EM_BACKEND;
});

describe('native EM kernel', () => {
  it.runIf(process.env.LENSEMBLE_EXPECT_NATIVE_EM === '1')('is built and loads (LENSEMBLE_EXPECT_NATIVE_EM=1, as CI sets)', () => {
    expect(status.loaded ? '' : status.reason).toBe('');
    expect(isas).toContain('generic');
    // the default is the widest offered
    expect(nativeEmIsa().name).toBe(isas[0]);
    console.log(`native EM kernel: ${isas.join(', ')} offered on this processor`);
  });
});

describe.runIf(status.loaded)('native float32 EM pass', () => {
  it.runIf(faceFiles(1, 1).length > 0)('N = 3: real photos and GAN faces give the float64 kernels (within 1e-5) and iteration counts', async () => {
    for (const file of faceFiles(6, 37)) expectMatchesFloat64(await decode(file), { kernelSize: 3 }, file);
  }, 120_000);

  it.runIf(faceFiles(1, 1).length > 0)('N = 2, 4, 5, 6, 7 on faces: within 1e-5, same iteration counts', async () => {
    const images = await Promise.all(faceFiles(1, 53).map(decode));
    for (const n of [2, 4, 5, 6, 7]) for (const [i, image] of images.entries()) expectMatchesFloat64(image, { kernelSize: n }, `face ${i} N=${n}`);
  }, 240_000);

  it('every row-tail length of 16, 8 and 4 lanes (interior widths 38…53), N = 3, RGB', () => {
    for (let width = 40; width < 56; width++) expectMatchesFloat64(texturedImage(width, 27, 3, width), { kernelSize: 3 }, `width ${width}`);
  });

  it('N = 2…7, odd and even widths, grayscale and RGB', () => {
    for (const n of [2, 3, 4, 5, 6, 7]) {
      for (const width of [29, 34, 47]) {
        expectMatchesFloat64(texturedImage(width, 31, n % 2 ? 3 : 1, 10 * n + width), { kernelSize: n }, `N=${n} width ${width}`);
      }
    }
  });

  it('a wide channel (1,203 pixels: groups of vectors span rows) and a four-channel image', () => {
    for (const n of [3, 5]) expectMatchesFloat64(texturedImage(1203, 24, 1, 40 + n), { kernelSize: n }, `wide N=${n}`);
    expectMatchesFloat64(texturedImage(64, 48, 4, 9), { kernelSize: 3 }, 'RGBA');
  });

  it('an image that starts below the float32 σ floor (σ0 = 0.1), and non-8-bit input, still give the float64 kernels', () => {
    expectMatchesFloat64(texturedImage(50, 40, 3, 6), { sigma0: 0.1 }, 'σ0 = 0.1');
    // a Float64Array channel is not 8-bit: 'native' runs it in float64, exactly as 'wasm'
    const gray = texturedImage(45, 33, 1, 12);
    const values = Float64Array.from(gray.data, (v) => v + 0.25);
    const native = estimateChannelKernel(values, 45, 33, {}, 'native');
    const wasm = estimateChannelKernel(values, 45, 33, {}, 'wasm');
    expect(Array.from(native.kernel)).toEqual(Array.from(wasm.kernel));
    expect(native.iterations).toBe(wasm.iterations);
  });

  it('its sums match the float64 pass’s, and it declines what float32 cannot do accurately', () => {
    for (const isa of isas) {
      withIsa(isa, () => {
        const native = expectFloat32PassLikeFloat64(bindNativePass, isa);
        // binding another channel reuses the buffers: the first pass must refuse rather than read them
        bindNativePass(native.view, native.grid, 3);
        expect(() => native.pass(native.kernel, native.params, native.sums)).toThrow(/another channel/);
      });
    }
  });

  it('the addon checks its arguments instead of reading past them', () => {
    const addon = createRequire(import.meta.url)(status.loaded ? status.path : '') as {
      passFor(isa: string): (...args: unknown[]) => void;
      workBytes(isa: string, n: number): number;
    };
    const isa = isas[0];
    const pass = addon.passFor(isa);
    const work = new Uint8Array(addon.workBytes(isa, 3));
    const args = (pixels: Float32Array, x1 = 19, workBuffer = work) =>
      [3, pixels, 20, 1, x1, 1, 19, new Float32Array(9), -0.1, 0.2, 1 / 256, workBuffer, new Float64Array(47)] as const;
    expect(() => pass(...args(new Float32Array(20 * 20 + 16)))).not.toThrow();
    expect(() => pass(...args(new Float32Array(20 * 20)))).toThrow(RangeError); // no padding
    expect(() => pass(...args(new Float32Array(20 * 20 + 16), 20))).toThrow(TypeError); // window past the row
    expect(() => pass(...args(new Float32Array(20 * 20 + 16), 19, new Uint8Array(64)))).toThrow(RangeError);
    expect(() => addon.passFor('sse9')).toThrow(/not built into this addon or not supported/);
  });

  it('LENSEMBLE_EM_NATIVE_ISA and LENSEMBLE_EM_BACKEND name what they accept when set to something else', () => {
    const image = texturedImage(30, 30, 1, 3);
    process.env.LENSEMBLE_EM_NATIVE_ISA = 'sse9';
    expect(() => extractTraces(image)).toThrow(/LENSEMBLE_EM_NATIVE_ISA=sse9: the native EM kernel offers .*generic/);
    delete process.env.LENSEMBLE_EM_NATIVE_ISA;
    process.env.LENSEMBLE_EM_BACKEND = 'gpu';
    expect(() => extractTraces(image)).toThrow(/LENSEMBLE_EM_BACKEND must be one of auto, native, wasm32, wasm; got gpu/);
    // forced to the WebAssembly float32 pass, 'auto' gives exactly its traces
    process.env.LENSEMBLE_EM_BACKEND = 'wasm32';
    expect(Array.from(extractTraces(image).features)).toEqual(Array.from(extractTraces(image, {}, 'wasm32').features));
  });

  it('runs in the trace pool’s worker threads: exactly the in-thread native traces', async () => {
    const images = [texturedImage(83, 61, 3, 21), texturedImage(70, 52, 3, 22), texturedImage(91, 40, 1, 23)];
    const pool = createTracePool(2);
    try {
      const pooled = await Promise.all(images.map((image) => pool.extract(image)));
      images.forEach((image, i) => {
        const native = extractTraces(image, {}, 'native');
        expect(Array.from(pooled[i].features), `image ${i}`).toEqual(Array.from(native.features));
      });
      // and not the WebAssembly pass's (whose float32 sums round differently)
      const wasm32 = images.map((image) => extractTraces(image, {}, 'wasm32'));
      expect(pooled.some((t, i) => t.features.some((v, j) => v !== wasm32[i].features[j]))).toBe(true);
    } finally {
      await pool.close();
    }
  });
});

describe('without the addon', () => {
  const runChild = (env: Record<string, string>) => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/forensics-em-native-child.ts'], {
      encoding: 'utf8',
      env: { ...process.env, LENSEMBLE_DEBUG: '', LENSEMBLE_EM_BACKEND: '', LENSEMBLE_EM_NATIVE_ADDON: '/nonexistent/lensemble_em.node', ...env },
    });
    expect(child.status, child.stderr).toBe(0);
    return { result: JSON.parse(child.stdout), stderr: child.stderr };
  };

  it('uses the WebAssembly float32 pass, in this thread and in the pool, and says nothing', () => {
    const { result, stderr } = runChild({});
    expect(result.status.loaded).toBe(false);
    expect(result.status.reason).toMatch(/Cannot find module|no such file/i);
    expect(result.autoEqualsWasm32).toBe(true);
    expect(result.poolEqualsWasm32).toBe(true);
    expect(stderr).toBe('');
  }, 60_000);

  it('says why under LENSEMBLE_DEBUG, and a forced native backend is an error naming the reason', () => {
    expect(runChild({ LENSEMBLE_DEBUG: '1' }).stderr).toMatch(/native EM kernel not loaded \(.+\); EM traces use the WebAssembly pass/);
    const forced = runChild({ LENSEMBLE_EM_BACKEND: 'native' }).result;
    expect(forced.error.name).toBe('LensembleError');
    expect(forced.error.message).toMatch(/native EM kernel is not available \(.+; looked for \/nonexistent\/lensemble_em.node\)/);
  }, 60_000);
});
