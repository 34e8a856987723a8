import { describe, expect, it } from 'vitest';
import { pipelinedBatches } from '../src/finetune/prefetch.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('pipelinedBatches: the next batch fills while the current one is consumed', () => {
  it('consumes every batch in order, each from the buffer its fill wrote, with fill k+1 started before consume k ends', async () => {
    const buffers = [new Float32Array(2), new Float32Array(2)] as const;
    const events: string[] = [];
    const seen: number[] = [];
    await pipelinedBatches(
      5,
      buffers,
      async (k, buffer) => {
        events.push(`fill ${k} start`);
        await tick();
        buffer.fill(k);
        events.push(`fill ${k} end`);
      },
      async (k, buffer) => {
        events.push(`consume ${k} start`);
        seen.push(buffer[0]);
        await tick();
        await tick();
        events.push(`consume ${k} end`);
      },
    );
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    for (let k = 0; k < 4; k++) {
      expect(events.indexOf(`fill ${k + 1} start`)).toBeLessThan(events.indexOf(`consume ${k} end`));
      expect(events.indexOf(`fill ${k + 1} end`)).toBeLessThan(events.indexOf(`consume ${k + 1} start`));
    }
    expect(events.filter((e) => e.startsWith('fill'))).toHaveLength(10);
  });

  it('a failed fill surfaces when its batch is reached, after the batches before it, and never unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const consumed: number[] = [];
      const run = pipelinedBatches(
        4,
        [new Float32Array(1), new Float32Array(1)],
        async (k) => {
          if (k === 2) throw new Error('image 2 changed on disk');
        },
        async (k) => {
          await tick();
          consumed.push(k);
        },
      );
      await expect(run).rejects.toThrow('image 2 changed on disk');
      expect(consumed).toEqual([0, 1]);
      await tick();
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('does nothing for no batches', async () => {
    let calls = 0;
    await pipelinedBatches(0, [new Float32Array(1), new Float32Array(1)], async () => void calls++, async () => void calls++);
    expect(calls).toBe(0);
  });
});
