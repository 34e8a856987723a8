import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { resolveTrainable, splitLayerGroups } from '../autodiff/blocks.js';
import { createFineTuner, type FineTuner, type SessionConfig } from '../autodiff/fine-tuner.js';
import { decodeModel, encodeModel, withInitializerValues } from '../autodiff/onnx-io.js';
import { untieInitializerAliases } from '../autodiff/parameters.js';
import { splitAt } from '../autodiff/split.js';
import { inferStaticShapes } from '../autodiff/static-shapes.js';
import { HEAD_BIAS, HEAD_WEIGHT } from '../autodiff/step-graph.js';
import type { Device } from '../backbone/session.js';
import type { BackboneSpec } from '../backbone/spec.js';
import type { AugmentationSettings } from '../features/member-views.js';
import { sharedRenderPool } from '../features/render-pool.js';
import { countCorrect, smoothedCrossEntropy } from '../heads/softmax-loss.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import type { LabelledItem } from '../sources/source-kind.js';
import { LensembleError } from '../util/errors.js';
import type { PeakMemory } from '../util/memory.js';
import { createProgress } from '../util/progress.js';
import { createRng, deriveSeed, shuffleInPlace } from '../util/rng.js';
import { readCheckpoint, removeCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.js';
import { cachedActivationInputs, renderedInputs, type InputSource } from './inputs.js';
import { pipelinedBatches } from './prefetch.js';
import { parseTrainable, type FineTuneRecipe } from './recipe.js';
import { unfrozenHyperparameters } from './schedule.js';

export interface FineTuneEpoch {
  /** 1-based, unfrozen epochs. */
  epoch: number;
  /** Label-smoothed cross-entropy, the loss trained on; `validLoss` is the same loss on the validation images (fastai's valid_loss). */
  trainLoss: number;
  validLoss: number | null;
  validAccuracy: number | null;
  imagesPerSecond: number;
  seconds: number;
  /** Peak resident memory during the epoch. */
  peakMemoryBytes: number;
}

export interface FineTuneInput {
  /** The pretrained backbone (ONNX bytes), its completed spec (input and pooled-feature output names). */
  model: Uint8Array;
  spec: BackboneSpec;
  preprocess: PreprocessSpec;
  augmentation: AugmentationSettings;
  recipe: FineTuneRecipe;
  /** The head to start from (affine on the raw pooled features: W [classes × features], b); not needed when a finished result is reused. */
  head?: { weight: Float32Array; bias: Float32Array };
  train: LabelledItem[];
  valid: LabelledItem[];
  classes: number;
  seed: number;
  /** Where checkpoints (after each epoch) and the finished result live: a rerun resumes or reuses them. */
  workDir: string;
  cacheDir: string;
  device?: Device;
  progress?: boolean;
  log: (line: string) => void;
  memory: PeakMemory;
  label: string;
}

export interface FineTuneOutcome {
  /** The backbone with the best epoch's weights (the original graph). */
  backbone: Uint8Array;
  head: { weight: Float32Array; bias: Float32Array };
  history: FineTuneEpoch[];
  /** 1-based epoch whose weights were kept (lowest validation loss). */
  bestEpoch: number;
  /** Epochs done by an earlier, interrupted run and picked up from its checkpoint. */
  resumedEpochs: number;
  /** True when an earlier run with the same inputs had finished: nothing was trained. */
  reused: boolean;
  seconds: number;
}

interface ResultFile {
  history: FineTuneEpoch[];
  bestEpoch: number;
  head: { weight: number[]; bias: number[] };
}

const RESULT = 'result.json';
const BACKBONE = 'backbone.onnx';

/** Where a finished run keeps the fine-tuned backbone. */
export const fineTunedBackbonePath = (workDir: string): string => join(workDir, BACKBONE);

/** Whether a finished fine-tuning run left its result in `workDir`. */
export function hasFineTuneResult(workDir: string): boolean {
  return existsSync(join(workDir, RESULT)) && existsSync(join(workDir, BACKBONE));
}

/** Every core for the step on the CPU (nothing else runs while it does); CUDA first, then the CPU, on a GPU. */
function sessionConfig(device: Device | undefined): SessionConfig {
  return device === 'cuda' ? { executionProviders: ['cuda', 'cpu'] } : { intraOpNumThreads: availableParallelism() };
}

/** The training order of one epoch: a seeded shuffle, cut to whole batches (fastai drops the last partial one). */
function epochOrder(count: number, batchSize: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  shuffleInPlace(order, createRng(deriveSeed(seed, 'finetune-epoch', epoch)));
  return order.slice(0, Math.floor(count / batchSize) * batchSize);
}

const copyParams = (tuner: FineTuner): Map<string, Float32Array> => new Map([...tuner.parameters()].map(([name, t]) => [name, t.data.slice()]));

function finalBackbone(model: Uint8Array, params: Map<string, Float32Array>, source: string): Uint8Array {
  const values = new Map([...params].filter(([name]) => name !== HEAD_WEIGHT && name !== HEAD_BIAS));
  return encodeModel(withInitializerValues(untieInitializerAliases(decodeModel(model, source)), values, source));
}

/**
 * fastai's `fine_tune` after its frozen phase (the caller fits the head on frozen features): every trainable
 * parameter for `recipe.finetune` epochs of a one-cycle schedule with discriminative learning rates, a fresh
 * seeded augmented view of every training image each epoch (rendered on the fly — on render threads, where there
 * are any, the next batch while the current one trains — or, for `last:K`, the frozen prefix's activations of those
 * views, cached by content), validation loss and accuracy after each epoch, the
 * epoch with the lowest validation loss kept, and a checkpoint after each epoch that a rerun resumes from.
 */
export async function fineTuneBackbone(input: FineTuneInput): Promise<FineTuneOutcome> {
  const started = performance.now();
  const { recipe, spec, log } = input;
  const source = spec.name;
  const resultPath = join(input.workDir, RESULT);
  const backbonePath = join(input.workDir, BACKBONE);
  if (hasFineTuneResult(input.workDir)) {
    const done = JSON.parse(readFileSync(resultPath, 'utf8')) as ResultFile;
    log(`${input.label}: fine-tuned before with the same images and settings — reusing ${input.workDir}`);
    return {
      backbone: readFileSync(backbonePath),
      head: { weight: Float32Array.from(done.head.weight), bias: Float32Array.from(done.head.bias) },
      history: done.history,
      bestEpoch: done.bestEpoch,
      resumedEpochs: 0,
      reused: true,
      seconds: (performance.now() - started) / 1000,
    };
  }
  if (!input.head) throw new Error('fineTuneBackbone: a head to start from is required');
  const warmHead = input.head;
  if (spec.pooling !== 'none') throw new LensembleError(`fine-tuning needs a backbone output of pooled features [N, F]; ${spec.featureOutput} is pooled by '${spec.pooling}'`, source);

  const model = untieInitializerAliases(decodeModel(input.model, source));
  const trainable = parseTrainable(recipe.trainable);
  const batchSize = Math.min(recipe.batchSize, input.train.length);
  if (batchSize < 2) throw new LensembleError('fine-tuning needs at least 2 training images', source);
  const geometry = [3, input.preprocess.height, input.preprocess.width];
  const shapes = await inferStaticShapes(model, { inputs: { [spec.inputName]: [1, ...geometry] }, source });
  const resolved = resolveTrainable(model, trainable, { input: spec.inputName, features: spec.featureOutput, shapes, source });
  const bodyGroups = splitLayerGroups(resolved.blocks, Math.max(1, recipe.lrGroups - 1));
  const groups = recipe.lrGroups >= 2 ? [...bodyGroups, []] : bodyGroups;
  const viewOf = (epoch: number) => recipe.freezeEpochs + epoch; // each epoch its own fresh augmented view

  let inputs: InputSource;
  let tunerModel: Uint8Array;
  let inputDims: number[];
  if (trainable === 'all') {
    inputs = renderedInputs(input.preprocess, input.augmentation, sharedRenderPool(input.device ?? 'cpu'));
    tunerModel = encodeModel(model);
    inputDims = [batchSize, ...geometry];
  } else {
    const cutShape = shapes.get(resolved.cut);
    if (!cutShape) throw new LensembleError(`no shape known for the cut ${resolved.cut}`, source);
    const split = splitAt(model, resolved.cut, { outputs: [spec.featureOutput], source });
    const views = Array.from({ length: recipe.finetune }, (_, e) => viewOf(e + 1));
    inputs = await cachedActivationInputs({
      prefix: split.prefix,
      cut: resolved.cut,
      spec,
      preprocess: input.preprocess,
      augmentation: input.augmentation,
      train: input.train,
      valid: input.valid,
      views,
      workDir: input.workDir,
      cacheDir: input.cacheDir,
      device: input.device,
      progress: input.progress,
      label: input.label,
    });
    tunerModel = split.tail;
    inputDims = [batchSize, ...cutShape.dims.slice(1)];
  }
  const tuner = await createFineTuner(tunerModel, {
    input: resolved.cut,
    inputDims,
    features: spec.featureOutput,
    head: warmHead,
    groups,
    labelSmoothing: recipe.labelSmoothing,
    session: sessionConfig(input.device),
    source,
  });
  try {
    let checkpoint: Checkpoint | undefined = readCheckpoint(input.workDir);
    if (checkpoint && checkpoint.epochsDone >= recipe.finetune) checkpoint = undefined;
    const resumedEpochs = checkpoint?.epochsDone ?? 0;
    if (checkpoint) {
      tuner.restore(checkpoint.state);
      log(`${input.label}: resuming fine-tuning after epoch ${checkpoint.epochsDone} of ${recipe.finetune} (checkpoint in ${input.workDir})`);
    }
    const history = checkpoint?.history ?? [];
    let best = checkpoint?.best ?? null;
    const stepsPerEpoch = Math.floor(input.train.length / batchSize);
    const totalSteps = stepsPerEpoch * recipe.finetune;
    const perImage = inputDims.slice(1).reduce((a, b) => a * b, 1);
    // Two batch buffers: the next batch is rendered while the current one trains.
    const buffers = [new Float32Array(batchSize * perImage), new Float32Array(batchSize * perImage)] as const;
    const labels = new Int32Array(batchSize);
    const trainLabels = Int32Array.from(input.train, (t) => t.y);
    const validLabels = Int32Array.from(input.valid, (t) => t.y);

    for (let epoch = resumedEpochs + 1; epoch <= recipe.finetune; epoch++) {
      const epochStarted = performance.now();
      input.memory.reset();
      const order = epochOrder(input.train.length, batchSize, input.seed, epoch);
      const bar = createProgress(`${input.label} epoch ${epoch}/${recipe.finetune}`, order.length, { unit: 'img', enabled: input.progress });
      let lossSum = 0;
      const rowsOf = (s: number) => order.slice(s * batchSize, (s + 1) * batchSize);
      await pipelinedBatches(
        stepsPerEpoch,
        buffers,
        (s, buffer) => inputs.fill(rowsOf(s).map((i) => ({ item: input.train[i], view: viewOf(epoch) })), buffer),
        async (s, buffer) => {
          rowsOf(s).forEach((i, k) => (labels[k] = trainLabels[i]));
          const hyper = unfrozenHyperparameters(recipe, tuner.layout.groups, ((epoch - 1) * stepsPerEpoch + s) / totalSteps);
          const { loss } = await tuner.step(buffer, labels, { lr: hyper.lr, beta1: hyper.beta1, weightDecay: recipe.weightDecay });
          if (!Number.isFinite(loss)) throw new LensembleError(`fine-tuning diverged at epoch ${epoch} (loss ${loss}); try a lower lr (now ${recipe.lr})`, source);
          lossSum += loss;
          input.memory.sample();
          bar.tick(batchSize, `loss ${(lossSum / (s + 1)).toFixed(4)}`);
        },
      );
      bar.stop();
      const trainSeconds = (performance.now() - epochStarted) / 1000;
      let validLoss: number | null = null;
      let validAccuracy: number | null = null;
      if (input.valid.length) {
        let sum = 0;
        let correct = 0;
        const chunkOf = (k: number) => input.valid.slice(k * batchSize, (k + 1) * batchSize);
        await pipelinedBatches(
          Math.ceil(input.valid.length / batchSize),
          buffers,
          (k, buffer) => inputs.fill(chunkOf(k).map((item) => ({ item, view: 0 })), buffer),
          async (k, buffer) => {
            const count = chunkOf(k).length;
            const logits = await tuner.evaluate(buffer, count);
            const labelsOf = validLabels.subarray(k * batchSize, k * batchSize + count);
            // fastai's valid_loss: the training loss function (label-smoothed) on the validation images.
            sum += count * smoothedCrossEntropy(logits, count, input.classes, labelsOf, null, recipe.labelSmoothing);
            correct += countCorrect(logits, count, input.classes, labelsOf);
          },
        );
        validLoss = sum / input.valid.length;
        validAccuracy = correct / input.valid.length;
      }
      const record: FineTuneEpoch = {
        epoch,
        trainLoss: lossSum / Math.max(1, stepsPerEpoch),
        validLoss,
        validAccuracy,
        imagesPerSecond: order.length / trainSeconds,
        seconds: (performance.now() - epochStarted) / 1000,
        peakMemoryBytes: input.memory.peak(),
      };
      history.push(record);
      if (!best || validLoss === null || validLoss < best.validLoss) best = { epoch, validLoss: validLoss ?? 0, params: copyParams(tuner) };
      writeCheckpoint(input.workDir, { epochsDone: epoch, history, best, state: tuner.state() });
      // Said once the epoch is safe on disk: a run killed after this line resumes after this epoch.
      log(
        `${input.label} epoch ${epoch}/${recipe.finetune}: train loss ${record.trainLoss.toFixed(4)}` +
          (validLoss === null ? '' : `, valid loss ${validLoss.toFixed(4)}, accuracy ${validAccuracy!.toFixed(4)}`) +
          ` (${record.imagesPerSecond.toFixed(1)} img/s, peak ${(record.peakMemoryBytes / 2 ** 30).toFixed(2)} GB)`,
      );
    }
    const kept = best ?? { epoch: recipe.finetune, validLoss: 0, params: copyParams(tuner) };
    const head = { weight: kept.params.get(HEAD_WEIGHT)!.slice(), bias: kept.params.get(HEAD_BIAS)!.slice() };
    const backbone = finalBackbone(input.model, kept.params, source);
    mkdirSync(input.workDir, { recursive: true });
    writeFileSync(backbonePath, backbone);
    const result: ResultFile = { history, bestEpoch: kept.epoch, head: { weight: Array.from(head.weight), bias: Array.from(head.bias) } };
    writeFileSync(resultPath, JSON.stringify(result));
    removeCheckpoint(input.workDir);
    return { backbone, head, history, bestEpoch: kept.epoch, resumedEpochs, reused: false, seconds: (performance.now() - started) / 1000 };
  } finally {
    await tuner.release();
    await inputs.close();
  }
}
