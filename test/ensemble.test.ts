import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { averageProbabilities } from '../src/ensemble/average.js';
import { parseMemberString, readEnsembleConfig } from '../src/ensemble/member-spec.js';
import { combineTta, ttaViewIndices } from '../src/ensemble/tta.js';
import { fromRows } from '../src/util/matrix.js';

describe('ensemble averaging', () => {
  const a = fromRows([[0.9, 0.1], [0.2, 0.8]]);
  const b = fromRows([[0.5, 0.5], [0.6, 0.4]]);
  it('averages members, optionally weighted', () => {
    expect(Array.from(averageProbabilities([a, b]).data)).toEqual([0.7, 0.3, 0.4, 0.6].map(Math.fround));
    const w = averageProbabilities([a, b], [3, 1]);
    expect(w.data[0]).toBeCloseTo(0.8, 6);
    expect(w.data[2]).toBeCloseTo(0.3, 6);
  });
  it('rejects mismatched shapes and bad weights', () => {
    expect(() => averageProbabilities([a, fromRows([[1, 0]])])).toThrow(/1×2/);
    expect(() => averageProbabilities([a, b], [0, 0])).toThrow(/positive/);
  });
});

describe('test-time augmentation', () => {
  const plain = fromRows([[1, 0]]);
  const views = [fromRows([[0, 1]]), fromRows([[0.5, 0.5]])];
  it("fastai: 0.75 × mean(augmented) + 0.25 × plain (Learner.tta's beta=0.25 lerp)", () => {
    const out = combineTta('fastai', plain, views, 0.25);
    expect(out.data[0]).toBeCloseTo(0.75 * 0.25 + 0.25 * 1, 6);
    expect(out.data[1]).toBeCloseTo(0.75 * 0.75, 6);
  });
  it('flip: mean of plain and mirrored; none: plain', () => {
    expect(combineTta('flip', plain, [views[0]]).data[0]).toBeCloseTo(0.5, 6);
    expect(combineTta('none', plain, views)).toBe(plain);
  });
  it('knows which views each kind needs', () => {
    expect(ttaViewIndices('fastai', 4)).toEqual([1, 2, 3, 4]);
    expect(ttaViewIndices('flip', 4)).toEqual([1]);
    expect(ttaViewIndices('none', 4)).toEqual([]);
  });
});

describe('member specs', () => {
  it('parses the command-line form with defaults underneath', () => {
    const m = parseMemberString('mobilenetv2_100,size=320,resize=squish,head=mlp,weight=2', { views: 2, tta: 'flip' });
    expect(m).toMatchObject({ source: { kind: 'backbone', backbone: 'mobilenetv2_100', size: 320, resize: 'squish' }, head: { kind: 'mlp' }, weight: 2, views: 2, tta: { kind: 'flip', views: 4 } });
  });
  it('names the bad key and value', () => {
    expect(() => parseMemberString('x,resize=stretch')).toThrow(/resize/);
    expect(() => parseMemberString('x,colour=red')).toThrow(/colour/);
    expect(() => parseMemberString('x,views')).toThrow(/not key=value/);
  });
  it('reads a config file with defaults and reports the file on errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lensemble-config-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ defaults: { views: 0, tta: 'none' }, members: [{ backbone: 'a' }, { backbone: 'b', size: 320, views: 2 }] }));
    const members = readEnsembleConfig(good);
    expect(members.map((m) => [m.source.backbone, m.views, m.tta.kind])).toEqual([['a', 0, 'none'], ['b', 2, 'none']]);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ members: [{ backbone: 'a', head: 'transformer' }] }));
    expect(() => readEnsembleConfig(bad)).toThrow(/bad\.json.*members\[0\].*head/);
  });
});
