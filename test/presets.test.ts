import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { membersFromFlags } from '../src/cli/commands/train.js';
import { parseMemberSpec, parseMemberString, readEnsembleConfig } from '../src/ensemble/member-spec.js';
import { memberPresets } from '../src/ensemble/presets.js';
import { resolveAugmentSpec } from '../src/images/augment-spec.js';

const forensics = memberPresets.forensics.settings;

describe('the forensics preset', () => {
  it('sets Wang et al.’s Blur+JPEG (0.5) augmentation, its views and TTA, and resolves to a valid augment spec', () => {
    expect(forensics.augment).toEqual({ blurProb: 0.5, blurSigma: [0, 3], jpegProb: 0.5, jpegQuality: [30, 100] });
    const member = parseMemberString('mobilenetv2_100,preset=forensics');
    expect(member).toMatchObject({ preset: 'forensics', source: { kind: 'backbone', augment: forensics.augment }, views: forensics.views, tta: { kind: forensics.tta } });
    expect(resolveAugmentSpec(member.source.augment)).toMatchObject({ ...forensics.augment, maxRotate: 10, doFlip: true });
  });

  it('fills in only what the member and the run do not say; augment keys merge one by one', () => {
    expect(parseMemberString('mobilenetv2_100,preset=forensics,views=2,tta=none')).toMatchObject({ views: 2, tta: { kind: 'none' } });
    // run flags (defaults) sit above the preset too
    expect(parseMemberString('mobilenetv2_100', { preset: 'forensics', views: 3 })).toMatchObject({ views: 3, tta: { kind: forensics.tta }, preset: 'forensics' });
    const tuned = parseMemberSpec({ backbone: 'mobilenetv2_100', preset: 'forensics', augment: { jpegProb: 0.1, maxRotate: 0 } });
    expect(tuned.source.augment).toEqual({ ...forensics.augment, jpegProb: 0.1, maxRotate: 0 });
    const nested = parseMemberSpec({ source: { kind: 'backbone', backbone: 'squeezenet1_1', augment: { blurProb: 0 } } }, { preset: 'forensics' });
    expect(nested.source.augment).toEqual({ ...forensics.augment, blurProb: 0 });
  });

  it('a run-wide preset passes over members that read untouched pixels; asking one of them for it is an error', () => {
    const members = membersFromFlags({ member: ['mobilenetv2_100', 'traces'], preset: 'forensics' } as never);
    expect(members[0]).toMatchObject({ preset: 'forensics', tta: { kind: forensics.tta } });
    expect(members[1]).toMatchObject({ source: { kind: 'traces' }, views: 0, tta: { kind: 'none' } });
    expect(members[1]).not.toHaveProperty('preset');
    expect(members[1].source).not.toHaveProperty('augment');
    expect(() => parseMemberString('traces,preset=forensics')).toThrow(/traces members read the untouched pixels: "preset"/);
  });

  it('the default member gets it from --preset, a config from its defaults; an unknown preset is named', () => {
    expect(membersFromFlags({ member: [], preset: 'forensics' } as never)[0]).toMatchObject({ source: { backbone: 'mobilenetv2_100', augment: forensics.augment } });
    const path = join(mkdtempSync(join(tmpdir(), 'lensemble-presets-')), 'config.json');
    writeFileSync(path, JSON.stringify({ defaults: { preset: 'forensics' }, members: [{ backbone: 'mobilenetv2_100' }, { backbone: 'squeezenet1_1', preset: 'forensics', tta: 'fastai' }] }));
    const [a, b] = readEnsembleConfig(path);
    expect(a.source.augment).toEqual(forensics.augment);
    expect(b.tta.kind).toBe('fastai');
    expect(() => parseMemberString('mobilenetv2_100,preset=faces')).toThrow(/unknown preset "faces" \(known: forensics\)/);
    expect(parseMemberString('mobilenetv2_100')).not.toHaveProperty('preset');
  });
});
