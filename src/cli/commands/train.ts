import type { Command } from 'commander';
import { interpolations, resizeMethods } from '../../images/preprocess-spec.js';
import { poolings } from '../../backbone/spec.js';
import { formatEvaluationText } from '../../evaluate/report.js';
import { headKinds } from '../../heads/registry.js';
import { train, type TrainResult } from '../../pipeline/train.js';
import { parseMemberSpec, parseMemberString, readEnsembleConfig, type MemberSpec } from '../../ensemble/member-spec.js';
import { ttaKinds } from '../../ensemble/tta.js';
import { memberPresets, presetNames, type PresetName } from '../../ensemble/presets.js';
import { weightMethods, type WeightMethod } from '../../ensemble/choose-weights.js';
import { DEFAULT_BACKBONE } from '../../backbone/registry.js';
import { DEFAULT_BATCH_SIZE, DEFAULT_SEED } from '../../defaults.js';
import { formatResultsText } from '../../evaluate/results-table.js';
import { pct } from '../../evaluate/table.js';
import { addQueueOptions, makeLogger, parseChoice, parseNumberOption, parseTriple, progressFor, queueOptions, type OutputFlags, type QueueFlags } from '../options.js';
import { stripUndefined } from '../../util/objects.js';

interface TrainFlags extends OutputFlags, QueueFlags {
  data: string;
  backbone?: string;
  member: string[];
  config?: string;
  views?: number;
  tta?: (typeof ttaKinds)[number];
  preset?: PresetName;
  targets?: string;
  cv?: number;
  weights: WeightMethod;
  force?: boolean;
  out: string;
  valid?: string;
  validPct: number;
  seed: number;
  dedup: boolean;
  dedupDistance: number;
  groupColumn?: string;
  size?: string;
  resize?: (typeof resizeMethods)[number];
  cropPct?: number;
  interpolation?: (typeof interpolations)[number];
  head?: (typeof headKinds)[number];
  finetune?: number;
  trainable?: string;
  epochs?: number;
  lr?: number;
  wd?: number;
  labelSmoothing?: number;
  hidden?: number;
  dropout?: number;
  batchSize: number;
  device: 'cpu' | 'cuda';
  cacheDir?: string;
  inputName?: string;
  outputName?: string;
  pooling?: (typeof poolings)[number];
  mean?: [number, number, number];
  std?: [number, number, number];
}

/**
 * Members from --config / --member, else one member from the single-model flags (or the registry's default
 * backbone, said in the log); flags act as defaults wherever they apply.
 */
export function membersFromFlags(flags: TrainFlags, log: (line: string) => void = () => {}): MemberSpec[] {
  const defaults: Record<string, unknown> = stripUndefined({
    head: flags.head,
    finetune: flags.finetune,
    trainable: flags.trainable,
    preset: flags.preset,
    views: flags.views,
    tta: flags.tta,
    size: flags.size,
    resize: flags.resize,
    cropPct: flags.cropPct,
    interpolation: flags.interpolation,
    epochs: flags.epochs,
    lr: flags.lr,
    weightDecay: flags.wd,
    labelSmoothing: flags.labelSmoothing,
    hidden: flags.hidden,
    dropout: flags.dropout,
  });
  const members = [...(flags.config ? readEnsembleConfig(flags.config, defaults) : []), ...flags.member.map((m) => parseMemberString(m, defaults))];
  if (members.length) {
    if (flags.backbone) members.unshift(parseMemberSpec({ backbone: flags.backbone }, defaults));
    return members;
  }
  if (!flags.backbone) log(`No --backbone, --member or --config given: using the registry's default backbone ${DEFAULT_BACKBONE} (see \`lensemble models list\`).`);
  return [parseMemberSpec({ backbone: flags.backbone ?? DEFAULT_BACKBONE }, defaults)];
}

export function printTrainResult(result: TrainResult): void {
  const out = process.stdout;
  out.write(formatResultsText(result.rows) + '\n\n');
  for (const t of result.extraTargets) out.write(`Extra target ${t.name}: error rate ${pct(t.evaluation.errorRate)} (TTA ${pct(t.evaluationTta.errorRate)})\n`);
  out.write(formatEvaluationText(result.evaluation, result.rows.length > 1 ? 'Validation (ensemble, TTA)' : 'Validation (TTA)') + '\n');
  if (result.weights.method === 'fit') out.write(`Ensemble weights fitted on ${result.weights.folds}-fold out-of-fold predictions of the training images (log loss ${result.weights.oofLogLoss!.toFixed(4)}; members alone: ${result.weights.memberOofLogLoss!.map((l) => l.toFixed(4)).join(', ')})\n`);
  out.write(`\nModel saved to ${result.outDir} (report.md, metrics.json and plots inside). Total ${result.timings.totalSeconds.toFixed(1)} s.\n`);
}

export function registerTrain(program: Command): void {
  const command = program
    .command('train')
    .description(
      'Train a classifier, or an ensemble, on a labelled image collection: frozen pretrained backbones extract features of the plain view and of ' +
        'fastai-style augmented views (cached on disk), light heads train on them in seconds, members are evaluated with and without TTA on an ' +
        'honest near-duplicate-aware validation split, and the model bundle is saved. With finetune=<epochs> (or --finetune) a member fine-tunes ' +
        "its backbone itself (fastai's fine_tune), and EM-traces members (traces) join for deepfake forensics.",
    )
    .requiredOption('-d, --data <path>', 'dataset: an image folder (<root>/<label>/<file>), a CSV list (path,label[,group]) or a Kaggle folder (train.csv + train_images/)')
    .option('-b, --backbone <ref>', 'backbone of a single model: a registered name (see `lensemble models list`), a path to an .onnx file, or hf:org/repo/file.onnx[@revision]')
    .option('--member <spec>', 'an ensemble member, repeatable: source[,key=value…], e.g. mobilenetv2_100,size=320,resize=squish,head=svm,C=10,views=4,tta=flip or traces,kernelSize=3 (keys of each head: `lensemble heads`; of each source: `lensemble members`)', (v: string, prev: string[]) => [...prev, v], [])
    .option('--weights <method>', `how ensemble members are weighted: fit (log-loss-optimal on out-of-fold predictions of the training images) | mean (plain average by each member's weight=)`, parseChoice('--weights', weightMethods), 'fit')
    .option('--force', 'overwrite a model bundle already in --out')
    .option('--config <file.json>', 'ensemble config: { "defaults": {...}, "members": [{ "backbone": ..., "size": ..., ... }] }')
    .requiredOption('-o, --out <dir>', 'run folder to write the model bundle and reports into')
    .option('--valid <path>', 'explicit validation set (folder or CSV); replaces the random split')
    .option('--valid-pct <fraction>', 'fraction of images held out for validation (stratified, by near-duplicate group)', parseNumberOption('--valid-pct', { min: 0.01, max: 0.9 }), 0.2)
    .option('--seed <n>', 'seed for the split, augmentation, head initialisation and shuffling', parseNumberOption('--seed', { integer: true, min: 0 }), DEFAULT_SEED)
    .option('--no-dedup', 'do not group near-duplicate images (flipped/rotated/rescaled copies) before splitting')
    .option('--dedup-distance <bits>', 'max Hamming distance (of 64) between perceptual hashes for two images to count as near-duplicates', parseNumberOption('--dedup-distance', { integer: true, min: 0, max: 32 }), 10)
    .option('--group-column <name>', 'CSV column whose values group images that must stay on one side of the split')
    .option('--cv <k>', 'also report group-aware k-fold cross-validation accuracy of every member (plain features)', parseNumberOption('--cv', { integer: true, min: 2, max: 20 }))
    .option('--targets <columns>', 'extra target columns to learn beside the label, comma-separated (e.g. variety for Paddy Doctor)')
    .option('--size <n|WxH>', "model input size, e.g. 224 or 320x240 (default: the backbone's)")
    .option('--resize <method>', `how images reach the input size: ${resizeMethods.join(' | ')} (default: the backbone's, usually crop)`, parseChoice('--resize', resizeMethods))
    .option('--crop-pct <fraction>', 'for --resize crop: fraction of the centred region kept (0.875 = resize 256, crop 224; 1 = fastai)', parseNumberOption('--crop-pct', { min: 0.05, max: 1 }))
    .option('--interpolation <kind>', `resampling filter: ${interpolations.join(' | ')}`, parseChoice('--interpolation', interpolations))
    .option('--views <k>', 'augmented views per training image (fastai aug_transforms: flip, rotate ±10°, zoom 1–1.1, warp 0.2, lighting 0.2, random-resized crop 0.75); default 4, 0 = plain only', parseNumberOption('--views', { integer: true, min: 0, max: 64 }))
    .option('--preset <name>', `settings for a task, under every member's own and the other flags (members that read untouched pixels ignore it): ${presetNames.map((n) => `${n} = ${memberPresets[n].description}`).join('; ')}`, parseChoice('--preset', presetNames))
    .option('--tta <kind>', 'test-time augmentation: fastai (4 augmented passes, 0.75·mean + 0.25·plain) | flip | none (default fastai)', parseChoice('--tta', ttaKinds))
    .option('--head <kind>', `classifier head: ${headKinds.join(' | ')} (default mlp; random-forest for traces members; parameters: \`lensemble heads\`)`, parseChoice('--head', headKinds))
    .option('--finetune <epochs>', "fine-tune every backbone member for this many epochs (fastai's fine_tune: head first, then everything, one cycle, discriminative lrs); a member's own finetune= wins", parseNumberOption('--finetune', { integer: true, min: 1 }))
    .option('--trainable <what>', 'what fine-tuning trains: all, or last:K (the last K blocks, on cached activations of the frozen rest)')
    .option('--epochs <n>', 'maximum training epochs of the head (early stopping on validation loss may end sooner)', parseNumberOption('--epochs', { integer: true, min: 1 }))
    .option('--lr <rate>', 'peak learning rate of the one-cycle schedule (default: found with the learning-rate finder)', parseNumberOption('--lr', { min: 0 }))
    .option('--wd <decay>', 'AdamW weight decay', parseNumberOption('--wd', { min: 0 }))
    .option('--label-smoothing <eps>', 'label smoothing epsilon', parseNumberOption('--label-smoothing', { min: 0, max: 0.99 }))
    .option('--hidden <n>', 'hidden units of the MLP head', parseNumberOption('--hidden', { integer: true, min: 1 }))
    .option('--dropout <p>', 'dropout of the MLP head', parseNumberOption('--dropout', { min: 0, max: 0.95 }))
    .option('--batch-size <n>', 'images per backbone batch', parseNumberOption('--batch-size', { integer: true, min: 1 }), DEFAULT_BATCH_SIZE)
    .option('--device <device>', 'where the backbone runs: cpu | cuda', parseChoice('--device', ['cpu', 'cuda'] as const), 'cpu')
    .option('--cache-dir <dir>', 'cache for features and downloads (default: $LENSEMBLE_CACHE or ~/.cache/lensemble)')
    .option('--input-name <name>', 'ONNX input tensor name (for a bare .onnx backbone; default: its first input)')
    .option('--output-name <name>', 'ONNX output holding features (default: features / pooler_output / first output)')
    .option('--pooling <kind>', `pooling of a token output [N,T,D]: ${poolings.join(' | ')}`, parseChoice('--pooling', poolings))
    .option('--mean <r,g,b>', 'normalisation mean (default ImageNet)', parseTriple('--mean'))
    .option('--std <r,g,b>', 'normalisation std (default ImageNet)', parseTriple('--std'));
  addQueueOptions(command)
    .option('--json', 'print the result as JSON on stdout')
    .option('-q, --quiet', 'no progress bars or log lines')
    .action(async (flags: TrainFlags) => {
      const log = makeLogger({ quiet: flags.quiet || flags.json });
      const result = await train({
        data: flags.data,
        valid: flags.valid,
        members: membersFromFlags(flags, log),
        weights: flags.weights,
        force: flags.force,
        cv: flags.cv,
        targets: flags.targets ? flags.targets.split(',').map((t) => t.trim()).filter(Boolean) : undefined,
        backboneOverrides: { inputName: flags.inputName, featureOutput: flags.outputName, pooling: flags.pooling, mean: flags.mean, std: flags.std },
        out: flags.out,
        validPct: flags.validPct,
        seed: flags.seed,
        dedup: flags.dedup,
        dedupDistance: flags.dedupDistance,
        read: { groupColumn: flags.groupColumn },
        device: flags.device,
        cacheDir: flags.cacheDir,
        batchSize: flags.batchSize,
        progress: progressFor(flags),
        log,
        queue: queueOptions(flags, log),
      });
      if (flags.json) {
        const { evaluation, evaluationPlain, rows, extraTargets, timings } = result;
        process.stdout.write(JSON.stringify({ model: result.outDir, ...evaluation, plain: { accuracy: evaluationPlain.accuracy, errorRate: evaluationPlain.errorRate }, members: rows, weights: result.weights, extraTargets: extraTargets.map((t) => ({ name: t.name, errorRate: t.evaluation.errorRate, errorRateTta: t.evaluationTta.errorRate })), timings }, null, 2) + '\n');
      } else {
        printTrainResult(result);
      }
    });
}
