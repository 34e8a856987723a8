import { describe, expect, it } from 'vitest';
import { createBackend } from '../src/heads/dense-backend.js';
import { gemm, gemmNaive } from '../src/heads/dense-math.js';
import { createDenseNet, type DenseNet } from '../src/heads/dense-net.js';
import { wasmSimdAvailable } from '../src/heads/dense-wasm.js';
import { createLinearHead, linearHeadFromJSON } from '../src/heads/linear.js';
import { lrFind, suggestFromCurve, valley } from '../src/heads/lr-find.js';
import { createMlpHead, mlpHeadFromJSON } from '../src/heads/mlp.js';
import { adamwUpdate, createAdamW, oneCycleAt, scheduleCos } from '../src/heads/optim.js';
import { smoothedCrossEntropy } from '../src/heads/softmax-loss.js';
import type { Matrix } from '../src/util/matrix.js';
import { createRng } from '../src/util/rng.js';

// ---------------------------------------------------------------- synthetic data

/** Gaussian blobs: class means drawn from `meansSeed`, `spread` noise around them drawn from `seed`. */
function blobs(rows: number, cols: number, classes: number, spread: number, meansSeed: number, seed = meansSeed): { X: Matrix; y: Int32Array } {
  const meansRng = createRng(meansSeed);
  const means = Array.from({ length: classes }, () => Array.from({ length: cols }, () => meansRng.normal()));
  const rng = createRng(seed + 1000);
  const X: Matrix = { rows, cols, data: new Float32Array(rows * cols) };
  const y = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    y[i] = rng.int(classes);
    for (let j = 0; j < cols; j++) X.data[i * cols + j] = means[y[i]][j] + spread * rng.normal();
  }
  return { X, y };
}

/** XOR: label = whether x and y have the same sign; a linear model is stuck near 50 %. */
function xor(rows: number, seed: number): { X: Matrix; y: Int32Array } {
  const rng = createRng(seed);
  const X: Matrix = { rows, cols: 2, data: new Float32Array(rows * 2) };
  const y = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const a = rng.uniform(-1, 1);
    const b = rng.uniform(-1, 1);
    X.data[2 * i] = a;
    X.data[2 * i + 1] = b;
    y[i] = a * b > 0 ? 1 : 0;
  }
  return { X, y };
}

function accuracy(predicted: Int32Array, y: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < y.length; i++) if (predicted[i] === y[i]) correct++;
  return correct / y.length;
}

function randomArray(length: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length }, () => rng.normal());
}

// ---------------------------------------------------------------- kernels

describe('dense kernels', () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [5, 7, 3], [13, 9, 33], [4, 8, 1], [9, 12, 64], [64, 40, 130]];

  it('JS gemm matches the triple loop for X·W and Xᵀ·D strides', () => {
    for (const [m, n, k] of shapes) {
      for (const transposed of [false, true]) {
        const a = randomArray(m * k, m + n);
        const b = randomArray(k * n, k);
        const [aRow, aCol] = transposed ? [1, m] : [k, 1];
        const fast = new Float32Array(m * n);
        const slow = new Float32Array(m * n);
        gemm(m, n, k, a, aRow, aCol, b, n, fast, n);
        gemmNaive(m, n, k, a, aRow, aCol, b, n, slow, n);
        for (let i = 0; i < slow.length; i++) expect(fast[i]).toBeCloseTo(slow[i], 4);
      }
    }
  });

  it('wasm SIMD is available on this Node and its gemm and AdamW match the JS kernels', () => {
    expect(wasmSimdAvailable()).toBe(true);
    const wasm = createBackend('wasm-simd', shapes.flatMap(([m, n, k]) => [m * k, k * n, m * n, m * k, k * n, m * n]).concat([3, 16, 1001].flatMap((l) => [l, l, l, l])));
    for (const [m, n, k] of shapes) {
      for (const transposed of [false, true]) {
        const a = wasm.alloc(m * k);
        const b = wasm.alloc(k * n);
        const c = wasm.alloc(m * n);
        a.set(randomArray(m * k, 1));
        b.set(randomArray(k * n, 2));
        const [aRow, aCol] = transposed ? [1, m] : [k, 1];
        const expected = new Float64Array(m * n);
        wasm.gemm(m, n, k, a, aRow, aCol, b, n, c, n);
        gemmNaive(m, n, k, a, aRow, aCol, b, n, expected, n);
        for (let i = 0; i < expected.length; i++) expect(Math.abs(c[i] - expected[i])).toBeLessThan(1e-4 * Math.sqrt(k));
      }
    }
    for (const length of [3, 16, 1001]) {
      const [p, g, m, v] = [1, 2, 3, 4].map((seed) => {
        const x = wasm.alloc(length);
        x.set(randomArray(length, seed).map((e) => (seed === 4 ? Math.abs(e) : e)));
        return x;
      });
      const [p2, g2, m2, v2] = [p, g, m, v].map((x) => x.slice());
      const c = { decay: 0.999, stepSize: 0.01, beta1: 0.9, beta2: 0.99, denomScale: 1.3, eps: 1e-5 };
      wasm.adamw(p, g, m, v, c);
      adamwUpdate(p2, g2, m2, v2, c);
      for (let i = 0; i < length; i++) {
        expect(p[i]).toBeCloseTo(p2[i], 6);
        expect(m[i]).toBeCloseTo(m2[i], 6);
        expect(v[i]).toBeCloseTo(v2[i], 6);
      }
    }
  });

  it('rejects arrays that were not allocated by the wasm backend', () => {
    const wasm = createBackend('wasm-simd', [4]);
    const own = wasm.alloc(4);
    expect(() => wasm.gemm(2, 2, 2, new Float32Array(4), 2, 1, own, 2, own, 2)).toThrow(/not allocated/);
    expect(() => wasm.alloc(1)).toThrow(/exhausted/);
  });
});

// ---------------------------------------------------------------- gradients

describe('gradients against finite differences (float64 path)', () => {
  const rows = 7;
  const inputs = 5;
  const classes = 3;
  const data = blobs(rows, inputs, classes, 1, 11);
  const weights = Float32Array.from({ length: rows }, (_, i) => 0.5 + (i % 3) * 0.5);
  const batch = Int32Array.from({ length: rows }, (_, i) => i);
  const dropoutSeed = 5;

  function makeNet(hidden: number[], regularisation: { labelSmoothing: number; l2: number; inputDropout: number; dropout: number }): DenseNet {
    const net = createDenseNet({ inputs, hidden, classes }, regularisation, 'js-f64', rows, 'train');
    net.initialise('kaiming', createRng(3));
    // Non-zero biases too, so their gradients are exercised away from the symmetric start.
    for (const g of net.paramGroups) if (!g.decay) g.value.set(randomArray(g.value.length, g.value.length).map((v) => 0.1 * v));
    return net;
  }

  /** Fresh Rng per evaluation: every pass draws the same dropout masks, so the loss is a fixed function. */
  const loss = (net: DenseNet): number => net.lossAndGradient(data.X, data.y, weights, batch, createRng(dropoutSeed));

  /** Largest relative difference between analytic gradients of `analytic` and central differences of `numeric`. */
  function gradientError(analytic: DenseNet, numeric: DenseNet): number {
    loss(analytic);
    const grads = analytic.paramGroups.map((g) => Float64Array.from(g.grad));
    const h = 1e-6;
    let worst = 0;
    numeric.paramGroups.forEach((group, gi) => {
      for (let e = 0; e < group.value.length; e++) {
        const saved = group.value[e];
        group.value[e] = saved + h;
        const up = loss(numeric);
        group.value[e] = saved - h;
        const down = loss(numeric);
        group.value[e] = saved;
        const estimate = (up - down) / (2 * h);
        const exact = grads[gi][e];
        worst = Math.max(worst, Math.abs(estimate - exact) / Math.max(1e-4, Math.abs(estimate) + Math.abs(exact)));
      }
    });
    return worst;
  }

  const regularised = { labelSmoothing: 0.1, l2: 0.05, inputDropout: 0, dropout: 0 };

  it('linear head: label-smoothed cross-entropy + L2 term, with sample weights', () => {
    expect(gradientError(makeNet([], regularised), makeNet([], regularised))).toBeLessThan(1e-6);
  });

  it('MLP head: two hidden ReLU layers with input and hidden dropout active', () => {
    const withDropout = { ...regularised, inputDropout: 0.2, dropout: 0.3 };
    expect(gradientError(makeNet([6, 4], withDropout), makeNet([6, 4], withDropout))).toBeLessThan(1e-6);
  });

  it('the check fails when the loss differs from what the gradient was derived for', () => {
    // Same weights, but the finite differences see ε 0.2 instead of 0.1, or no L2 term.
    expect(gradientError(makeNet([6], regularised), makeNet([6], { ...regularised, labelSmoothing: 0.2 }))).toBeGreaterThan(1e-2);
    expect(gradientError(makeNet([], regularised), makeNet([], { ...regularised, l2: 0 }))).toBeGreaterThan(1e-2);
  });

  it('label-smoothed cross-entropy equals fastai’s formula on a hand-sized example', () => {
    const logits = new Float64Array([2, 0, -1]);
    const eps = 0.1;
    const logZ = Math.log(Math.exp(2) + Math.exp(0) + Math.exp(-1));
    const logp = [2 - logZ, 0 - logZ, -1 - logZ];
    const expected = (1 - eps) * -logp[0] + (eps / 3) * -(logp[0] + logp[1] + logp[2]);
    expect(smoothedCrossEntropy(logits, 1, 3, new Int32Array([0]), null, eps)).toBeCloseTo(expected, 12);
  });
});

// ---------------------------------------------------------------- optimiser and schedule

describe('AdamW and the one-cycle schedule', () => {
  it('one step matches a hand-computed torch.optim.AdamW update; biases are not decayed', () => {
    const weight = new Float32Array([1, -2]);
    const bias = new Float32Array([1]);
    const groups = [
      { value: weight, grad: new Float32Array([0.5, 0.25]), decay: true },
      { value: bias, grad: new Float32Array([0.5]), decay: false },
    ];
    const lr = 0.1, wd = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    createAdamW(groups, { lr, beta1: b1, beta2: b2, eps, weightDecay: wd }).step();
    const expected = (p: number, g: number, decayed: boolean): number => {
      const m = (1 - b1) * g;
      const v = (1 - b2) * g * g;
      const decayedP = decayed ? p * (1 - lr * wd) : p;
      return decayedP - (lr / (1 - b1)) * m / (Math.sqrt(v) / Math.sqrt(1 - b2) + eps);
    };
    expect(weight[0]).toBeCloseTo(expected(1, 0.5, true), 6); // 0.999 − 0.1 = 0.899
    expect(weight[0]).toBeCloseTo(0.899, 6);
    expect(weight[1]).toBeCloseTo(expected(-2, 0.25, true), 6); // −1.998 − 0.1 = −2.098
    expect(bias[0]).toBeCloseTo(0.9, 6);
  });

  it('second step uses the bias corrections 1 − βᵗ with t = 2', () => {
    const value = new Float64Array([0]);
    const grad = new Float64Array([1]);
    const opt = createAdamW([{ value, grad, decay: false }], { lr: 1, beta1: 0.5, beta2: 0.5, eps: 0 });
    opt.step();
    grad[0] = 3;
    opt.step();
    // m = 0.5·0.5 + 0.5·3 = 1.75, v = 0.5·0.5 + 0.5·9 = 4.75; m̂ = 1.75/0.75, v̂ = 4.75/0.75.
    expect(value[0]).toBeCloseTo(-1 - (1.75 / 0.75) / Math.sqrt(4.75 / 0.75), 12);
    expect(opt.steps).toBe(2);
  });

  it('matches fastai fit_one_cycle at start, warm-up midpoint, peak, annealing midpoint and end', () => {
    const lrMax = 0.01;
    expect(oneCycleAt(0, { lrMax })).toEqual({ lr: lrMax / 25, beta1: 0.95 });
    const warm = oneCycleAt(0.125, { lrMax });
    expect(warm.lr).toBeCloseTo((lrMax / 25 + lrMax) / 2, 15);
    expect(warm.beta1).toBeCloseTo(0.9, 15);
    const peak = oneCycleAt(0.25, { lrMax });
    expect(peak.lr).toBeCloseTo(lrMax, 15);
    expect(peak.beta1).toBeCloseTo(0.85, 15);
    expect(oneCycleAt(0.625, { lrMax }).lr).toBeCloseTo((lrMax + lrMax / 1e5) / 2, 15);
    const end = oneCycleAt(1, { lrMax });
    expect(end.lr).toBeCloseTo(lrMax / 1e5, 15);
    expect(end.beta1).toBeCloseTo(0.95, 15);
    // fastai's sched_cos(start, end, pos) = start + (1 + cos(π(1 − pos)))·(end − start)/2
    expect(scheduleCos(1, 3, 0.3)).toBeCloseTo(1 + (1 + Math.cos(Math.PI * 0.7)), 15);
    expect(oneCycleAt(0.1, { lrMax: 1, pctStart: 0.5, div: 10, divFinal: 100 }).lr).toBeCloseTo(scheduleCos(0.1, 1, 0.2), 15);
  });
});

// ---------------------------------------------------------------- heads

describe('linear and MLP heads', () => {
  const train = blobs(600, 20, 4, 0.8, 1);
  const test = blobs(300, 20, 4, 0.8, 1, 2); // same class means, fresh noise

  it('reach a high accuracy on Gaussian blobs, with lr_find choosing the learning rate', () => {
    for (const head of [createLinearHead(4, { epochs: 30 }), createMlpHead(4, { hidden: [32], epochs: 30 })]) {
      const report = head.fit(train.X, train.y);
      expect(report.lrFind).not.toBeNull();
      expect(report.epochs).toHaveLength(30);
      expect(accuracy(head.predict(test.X), test.y)).toBeGreaterThan(0.98);
      const proba = head.predictProba(test.X);
      for (let i = 0; i < 5; i++) {
        const sum = proba.data.subarray(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0);
        expect(sum).toBeCloseTo(1, 5);
      }
    }
  });

  it('the MLP solves XOR; the linear head cannot', () => {
    const trainXor = xor(800, 2);
    const testXor = xor(400, 3);
    const linear = createLinearHead(2, { epochs: 20 });
    linear.fit(trainXor.X, trainXor.y);
    expect(accuracy(linear.predict(testXor.X), testXor.y)).toBeLessThan(0.7);
    const mlp = createMlpHead(2, { hidden: [32], epochs: 40, lr: 1e-2, inputDropout: 0, dropout: 0 });
    mlp.fit(trainXor.X, trainXor.y);
    expect(accuracy(mlp.predict(testXor.X), testXor.y)).toBeGreaterThan(0.95);
  });

  it('reports one record per epoch and calls onProgress', () => {
    const calls: number[] = [];
    const report = createLinearHead(4, { epochs: 4, lr: 1e-2 }).fit(train.X, train.y, {
      valid: test,
      onProgress: (done, total, info) => {
        calls.push(done);
        expect(total).toBe(4);
        expect(info?.validAccuracy).toBeGreaterThan(0);
      },
    });
    expect(calls).toEqual([1, 2, 3, 4]);
    for (const e of report.epochs) {
      expect(e.trainLoss).toBeGreaterThan(0);
      expect(e.validLoss).toBeGreaterThan(0);
      expect(e.lr).toBeGreaterThan(0);
      expect(e.seconds).toBeGreaterThanOrEqual(0);
    }
    expect(report.epochs[3].lr).toBeLessThan(1e-3); // annealed towards lrMax / 1e5
  });

  it('early stopping restores the weights of the best validation epoch', () => {
    // Few rows, many features, a large lr: the validation loss bottoms out early, then rises.
    const small = blobs(40, 60, 3, 3, 7);
    const valid = blobs(200, 60, 3, 3, 7, 8);
    const head = createMlpHead(3, { hidden: [64], epochs: 40, lr: 3e-2, patience: 3, inputDropout: 0, dropout: 0, labelSmoothing: 0 });
    const report = head.fit(small.X, small.y, { valid });
    expect(report.stoppedEarly).toBe(true);
    expect(report.epochs.length).toBe(report.bestEpoch + 4);
    const best = report.epochs[report.bestEpoch].validLoss!;
    for (const e of report.epochs) expect(e.validLoss!).toBeGreaterThanOrEqual(best);
    const proba = head.predictProba(valid.X);
    let loss = 0;
    for (let i = 0; i < valid.y.length; i++) loss -= Math.log(proba.data[i * 3 + valid.y[i]]);
    expect(loss / valid.y.length).toBeCloseTo(best, 4);
  });

  it('serialise → fromJSON gives identical probabilities', () => {
    const linear = createLinearHead(4, { epochs: 3, lr: 1e-2 });
    linear.fit(train.X, train.y);
    const mlp = createMlpHead(4, { hidden: [16, 8], epochs: 3, lr: 1e-2 });
    mlp.fit(train.X, train.y);
    for (const [head, fromJSON] of [[linear, linearHeadFromJSON], [mlp, mlpHeadFromJSON]] as const) {
      const serialized = head.toJSON();
      const config = JSON.parse(JSON.stringify(serialized.config)) as Record<string, unknown>;
      const restored = fromJSON({ ...serialized, config });
      expect(restored.kind).toBe(head.kind);
      expect(restored.predictProba(test.X).data).toEqual(head.predictProba(test.X).data);
    }
    expect(linear.toJSON().tensors['layers.0.weight'].shape).toEqual([4, 20]);
    expect(mlp.toJSON().tensors['layers.1.weight'].shape).toEqual([8, 16]);
    expect(() => linearHeadFromJSON(mlp.toJSON())).toThrow(/expected a 'linear' head/);
  });

  it('is deterministic: the same seed gives identical weights, another seed different ones', () => {
    const fitWith = (seed: number): Float32Array[] => {
      const head = createMlpHead(4, { hidden: [16], epochs: 3, seed });
      head.fit(train.X, train.y, { valid: test });
      return head.state()!.layers.flatMap((l) => [l.weight, l.bias]);
    };
    const [a, b, c] = [fitWith(1), fitWith(1), fitWith(2)];
    a.forEach((t, i) => expect(t).toEqual(b[i]));
    expect(a[0]).not.toEqual(c[0]);
  });

  it('uses per-sample weights: zero-weighted rows do not influence the fit', () => {
    // Half the rows carry flipped labels but zero weight.
    const y = train.y.slice();
    const w = new Float32Array(y.length).fill(1);
    for (let i = 0; i < y.length; i += 2) {
      y[i] = (y[i] + 1) % 4;
      w[i] = 0;
    }
    const head = createLinearHead(4, { epochs: 10, lr: 1e-2 });
    head.fit(train.X, y, { sampleWeight: w });
    expect(accuracy(head.predict(test.X), test.y)).toBeGreaterThan(0.95);
  });

  it('validates its inputs', () => {
    const head = createLinearHead(4);
    expect(() => head.predict(test.X)).toThrow(/before fit/);
    expect(() => head.fit(train.X, new Int32Array(3))).toThrow(/labels/);
    expect(() => head.fit(train.X, train.y.map(() => 9))).toThrow(/out of range/);
    expect(() => createMlpHead(1)).toThrow(/nClasses/);
  });
});

// ---------------------------------------------------------------- lr_find

describe('lr_find', () => {
  it('valley follows fastai: longest decreasing run, then ⌊len/3⌋ + ⌊len/6⌋ into it', () => {
    const lrs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const losses = [5, 6, 4, 3.5, 3, 2, 1.5, 1, 2, 9];
    // Longest decreasing run ends at index 7 with length 7 (5,4,3.5,3,2,1.5,1); fastai's start = 7 − 7 = 0.
    // sections = 7/3 → idx = 0 + 2 + 1 = 3.
    expect(valley(lrs, losses)).toEqual({ lr: 4, index: 3 });
  });

  it('drops the first num_it/10 and last 5 points before the valley', () => {
    const lrs = Array.from({ length: 30 }, (_, i) => 10 ** (-7 + i * 0.25));
    const losses = lrs.map((_, i) => (i < 20 ? 3 - i * 0.1 : 1 + (i - 20)));
    const kept = { lrs: lrs.slice(3, 25), losses: losses.slice(3, 25) };
    expect(suggestFromCurve(lrs, losses, 30)).toBe(valley(kept.lrs, kept.losses).lr);
  });

  it('suggests a sane learning rate on a synthetic problem and leaves the network unchanged', () => {
    const data = blobs(2000, 32, 4, 1.5, 9);
    const net = createDenseNet({ inputs: 32, hidden: [], classes: 4 }, { labelSmoothing: 0.1, l2: 0, inputDropout: 0, dropout: 0 }, 'auto', 64, 'train');
    net.initialise('kaiming', createRng(1));
    const before = net.snapshot();
    const result = lrFind(net, { X: data.X, y: data.y, weights: null }, { batchSize: 64, adam: { beta1: 0.9, beta2: 0.99, eps: 1e-5, weightDecay: 0.01 }, seed: 1 });
    expect(result.suggestion).toBeGreaterThan(1e-4);
    expect(result.suggestion).toBeLessThan(1e-1);
    expect(result.lrs[0]).toBeCloseTo(1e-7, 12);
    expect(result.lrs.length).toBeLessThanOrEqual(100);
    expect(result.losses.length).toBe(result.lrs.length);
    net.snapshot().forEach((t, i) => expect(t).toEqual(before[i]));
  });
});
