import type { Ensemble, EnsembleMember } from '../ensemble/ensemble.js';
import { affineForm, NOT_AFFINE, type AffineHead } from '../heads/affine-form.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import type { SourceNetwork } from '../sources/source-kind.js';
import { LensembleError } from '../util/errors.js';
import { LENSEMBLE_VERSION } from '../version.js';
import { appendBackbone, appendPooling, defaultOpset, readBackboneGraph, type BackboneGraph } from './backbone-graph.js';
import { createGraphBuilder, type GraphBuilder } from './graph-builder.js';
import { DataType, encodeModel, toNumber, valueInfo } from './onnx-io.js';

/** One image input of the exported model: uint8 RGB, NHWC, already resized the way lensemble resizes. */
export interface ExportInput {
  name: string;
  width: number;
  height: number;
  resize: PreprocessSpec['resize'];
  cropPct: number;
  interpolation: PreprocessSpec['interpolation'];
}

/** What the exported model holds, stored as JSON in its metadata (key `lensemble`) and given to the page. */
export interface ExportMetadata {
  format: 'lensemble-onnx';
  version: 1;
  labels: string[];
  inputs: ExportInput[];
  /** [N, classes] float32: the weighted mean of the members' softmax probabilities. */
  output: 'probabilities';
  members: { name: string; input: string; weight: number; backbone: string; head: string }[];
  /** Members left out (with --drop-unexportable) and why; the weights of the others were renormalised. */
  dropped: { name: string; reason: string }[];
  lensembleVersion: string;
}

export interface OnnxExport {
  bytes: Uint8Array;
  metadata: ExportMetadata;
}

export interface OnnxExportOptions {
  /** Leave out members that have no ONNX form (EM traces, RF/SVM/kNN heads) and renormalise the others' weights. */
  dropUnexportable?: boolean;
}

interface Exportable {
  member: EnsembleMember;
  network: SourceNetwork;
  head: AffineHead;
  weight: number;
}

/** Why a member cannot become ONNX ops, or undefined when it can. */
export function unexportableReason(member: EnsembleMember): string | undefined {
  if (!member.source.network) return `its ${member.source.description.arch} features are computed in TypeScript, not by an ONNX network`;
  if (!affineForm(member.head)) {
    const why = NOT_AFFINE[member.head.kind] ?? 'it is not a softmax of affine layers';
    return `its ${member.head.kind} head has no ONNX form here (${why}); linear, mlp and lda heads do`;
  }
  return undefined;
}

const geometryKey = (p: PreprocessSpec): string => JSON.stringify([p.width, p.height, p.resize, p.cropPct, p.interpolation]);

function inputName(p: PreprocessSpec, single: boolean, taken: Set<string>): string {
  let name = single ? 'pixels' : `pixels_${p.width}x${p.height}_${p.resize}`;
  for (let k = 2; taken.has(name); k++) name = `pixels_${p.width}x${p.height}_${p.resize}_${k}`;
  taken.add(name);
  return name;
}

/** uint8 NHWC RGB → float NCHW normalised as `writeNormalizedChw` does: x · 1/(255·std) − mean/std. */
function appendNormalisation(b: GraphBuilder, chw: string, p: PreprocessSpec, prefix: string): string {
  const scale = p.std.map((s) => 1 / (255 * s));
  const shift = p.mean.map((m, c) => -m / p.std[c]);
  const scaled = b.op('Mul', [chw, b.float(`${prefix}pixel_scale`, [1, 3, 1, 1], scale)], {}, `${prefix}scaled`);
  return b.op('Add', [scaled, b.float(`${prefix}pixel_shift`, [1, 3, 1, 1], shift)], {}, `${prefix}normalised`);
}

/** Standardise → [Gemm → Relu]* → Gemm → Softmax: the head's probabilities, as `predictProba` computes them. */
function appendHead(b: GraphBuilder, features: string, head: AffineHead, prefix: string): string {
  let x = features;
  if (head.scaling) {
    x = b.op('Sub', [x, b.float(`${prefix}input_mean`, [head.scaling.mean.length], head.scaling.mean)], {}, `${prefix}centred`);
    x = b.op('Div', [x, b.float(`${prefix}input_scale`, [head.scaling.scale.length], head.scaling.scale)], {}, `${prefix}standardised`);
  }
  head.layers.forEach((layer, l) => {
    const w = b.float(`${prefix}layers.${l}.weight`, [layer.outputs, layer.inputs], layer.weight);
    const bias = b.float(`${prefix}layers.${l}.bias`, [layer.outputs], layer.bias);
    x = b.op('Gemm', [x, w, bias], { transB: 1 }, `${prefix}layer${l}`);
    if (l + 1 < head.layers.length) x = b.op('Relu', [x], {}, `${prefix}relu${l}`);
  });
  return b.op('Softmax', [x], { axis: 1 }, `${prefix}probabilities`);
}

/** The rank of a network's feature output, from one run on a blank image at the member's size. */
async function featureRank(network: SourceNetwork): Promise<number> {
  const { width, height } = network.preprocess;
  const session = await network.session();
  const outputs = await session.run(new Float32Array(3 * width * height), 1, width, height, [network.spec.featureOutput]);
  return outputs[network.spec.featureOutput].dims.length;
}

/**
 * The ensemble as one ONNX model: for each member, uint8 RGB at its input size → normalisation → its backbone →
 * pooling → its head → softmax, weighted as in the ensemble. Members at the same input geometry share an input
 * (one input per distinct size and resize rule); members that share a backbone file share its weights, and
 * those that also share the input and normalisation share the backbone run itself.
 */
export async function ensembleToOnnx(ensemble: Ensemble, options: OnnxExportOptions = {}): Promise<OnnxExport> {
  const refused = ensemble.members.map((m) => ({ name: m.name, reason: unexportableReason(m) })).filter((r): r is { name: string; reason: string } => r.reason !== undefined);
  if (refused.length && !options.dropUnexportable) {
    throw new LensembleError(
      `cannot export ${refused.map((r) => `member ${r.name}: ${r.reason}`).join('; ')}. ` +
        'Pass --drop-unexportable to export the other members (their weights renormalised).',
    );
  }
  const kept: Exportable[] = ensemble.members.flatMap((member, k) =>
    unexportableReason(member) ? [] : [{ member, network: member.source.network!, head: affineForm(member.head)!, weight: ensemble.weights[k] }],
  );
  const total = kept.reduce((s, m) => s + m.weight, 0);
  if (kept.length === 0 || !(total > 0)) throw new LensembleError(`no member of this model can be exported (${refused.map((r) => `${r.name}: ${r.reason}`).join('; ')})`);
  const members = kept.map((m) => ({ ...m, weight: m.weight / total })).filter((m) => m.weight > 0);

  const graphs = new Map<string, BackboneGraph>();
  const graphOf = (path: string): BackboneGraph => {
    if (!graphs.has(path)) graphs.set(path, readBackboneGraph(path));
    return graphs.get(path)!;
  };
  for (const m of members) graphOf(m.network.modelPath);
  const opset = Math.max(7, ...[...graphs.values()].map((g) => defaultOpset(g.model)));

  const b = createGraphBuilder();
  const inputs = new Map<string, { info: ExportInput; chw: string }>();
  const single = new Set(members.map((m) => geometryKey(m.network.preprocess))).size === 1;
  const taken = new Set<string>();
  const backbonePrefixes = new Map<string, string>();
  const featureValues = new Map<string, string>();
  const probabilities: string[] = [];
  const described: ExportMetadata['members'] = [];
  for (const [k, m] of members.entries()) {
    const p = m.network.preprocess;
    const key = geometryKey(p);
    if (!inputs.has(key)) {
      const name = inputName(p, single, taken);
      const float = b.op('Cast', [name], { to: DataType.FLOAT }, `${name}/float`);
      const chw = b.op('Transpose', [float], { perm: [0, 3, 1, 2] }, `${name}/chw`);
      inputs.set(key, { info: { name, width: p.width, height: p.height, resize: p.resize, cropPct: p.cropPct, interpolation: p.interpolation }, chw });
    }
    const input = inputs.get(key)!;
    const runKey = JSON.stringify([m.network.modelPath, m.network.spec.inputName, m.network.spec.featureOutput, key, p.mean, p.std]);
    let features = featureValues.get(runKey);
    if (!features) {
      if (!backbonePrefixes.has(m.network.modelPath)) backbonePrefixes.set(m.network.modelPath, `backbone${backbonePrefixes.size}/`);
      const prefix = `member${k}/`;
      const normalised = appendNormalisation(b, input.chw, p, prefix);
      const output = appendBackbone(b, graphOf(m.network.modelPath), m.network.spec, normalised, prefix, backbonePrefixes.get(m.network.modelPath)!);
      features = appendPooling(b, output, await featureRank(m.network), m.network.spec, opset, prefix);
      featureValues.set(runKey, features);
    }
    const p_k = appendHead(b, features, m.head, `member${k}/head/`);
    probabilities.push(members.length === 1 ? p_k : b.op('Mul', [p_k, b.float(`member${k}/weight`, [], [m.weight])], {}, `member${k}/weighted`));
    described.push({ name: m.member.name, input: input.info.name, weight: m.weight, backbone: m.network.spec.name, head: m.head.kind });
  }
  const mixed = probabilities.length === 1 ? probabilities[0] : b.op('Sum', probabilities, {}, 'mixed');
  b.nodes.push({ opType: 'Identity', name: 'output/Identity', input: [mixed], output: ['probabilities'], attribute: [] });

  const metadata: ExportMetadata = {
    format: 'lensemble-onnx',
    version: 1,
    labels: ensemble.labels,
    inputs: [...inputs.values()].map((i) => i.info),
    output: 'probabilities',
    members: described,
    dropped: refused,
    lensembleVersion: LENSEMBLE_VERSION,
  };
  const opsets = new Map<string, number>([['', opset]]);
  for (const g of graphs.values()) {
    for (const o of g.model.opsetImport ?? []) {
      const domain = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
      if (domain) opsets.set(domain, Math.max(opsets.get(domain) ?? 0, toNumber(o.version)));
    }
  }
  const irVersion = Math.max(8, ...[...graphs.values()].map((g) => toNumber(g.model.irVersion)));
  const bytes = encodeModel({
    irVersion,
    producerName: 'lensemble',
    producerVersion: LENSEMBLE_VERSION,
    opsetImport: [...opsets].map(([domain, version]) => ({ domain, version })),
    metadataProps: [
      { key: 'lensemble', value: JSON.stringify(metadata) },
      { key: 'labels', value: JSON.stringify(metadata.labels) },
      { key: 'inputs', value: JSON.stringify(metadata.inputs) },
    ],
    graph: {
      name: 'lensemble',
      node: b.nodes,
      initializer: b.initializers,
      input: metadata.inputs.map((i) => valueInfo(i.name, DataType.UINT8, ['N', i.height, i.width, 3])),
      output: [valueInfo('probabilities', DataType.FLOAT, ['N', ensemble.labels.length])],
    },
  });
  return { bytes, metadata };
}
