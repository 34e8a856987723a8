/**
 * Runs `consume` over `count` batches in order while the next batch is being filled: two buffers, batch k + 1
 * filled (on render threads, where there are any) while batch k trains or is evaluated. A failed fill surfaces
 * when its batch is reached, never as an unhandled rejection.
 */
export async function pipelinedBatches(
  count: number,
  buffers: readonly [Float32Array, Float32Array],
  fill: (index: number, buffer: Float32Array) => Promise<void>,
  consume: (index: number, buffer: Float32Array) => Promise<void>,
): Promise<void> {
  if (count <= 0) return;
  let pending = fill(0, buffers[0]);
  for (let k = 0; k < count; k++) {
    await pending;
    if (k + 1 < count) {
      pending = fill(k + 1, buffers[(k + 1) % 2]);
      pending.catch(() => {}); // awaited at the next batch; this only keeps an early failure from going unhandled
    }
    await consume(k, buffers[k % 2]);
  }
}
