/**
 * Run by forensics-em-native.test.ts in a fresh process, where the environment it sets (e.g. an
 * addon path that does not exist) is seen by the first load: extracts traces from a generated image
 * in this thread and on a trace pool, and prints what happened as JSON.
 */
import { nativeEmStatus } from '../src/forensics/em-native.js';
import { extractTraces } from '../src/forensics/em-trace.js';
import { createTracePool } from '../src/forensics/trace-pool.js';
import { createRng } from '../src/util/rng.js';

const width = 37;
const height = 29;
const rng = createRng(7);
const data = new Uint8Array(width * height * 3);
for (let y = 0; y < height; y++) {
  for (let x = 0; x < width; x++) {
    for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = Math.round(120 + 40 * Math.sin(0.3 * x + 0.2 * y + c) + 8 * rng.normal());
  }
}
const image = { data, width, height, channels: 3 };

const status = nativeEmStatus();
let result: Record<string, unknown>;
try {
  const auto = extractTraces(image);
  const wasm32 = extractTraces(image, {}, 'wasm32');
  const pool = createTracePool(1);
  const pooled = await pool.extract(image);
  await pool.close();
  result = {
    status,
    autoEqualsWasm32: auto.features.every((v, i) => v === wasm32.features[i]),
    poolEqualsWasm32: pooled.features.every((v, i) => v === wasm32.features[i]),
  };
} catch (err) {
  result = { status, error: { name: (err as Error).name, message: (err as Error).message } };
}
process.stdout.write(JSON.stringify(result));
