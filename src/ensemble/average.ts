import { zeros, type Matrix } from '../util/matrix.js';

/** Weighted mean of members' probability matrices (weights are normalised to sum 1). */
export function averageProbabilities(members: Matrix[], weights?: number[]): Matrix {
  if (members.length === 0) throw new Error('cannot average zero members');
  const w = weights ?? members.map(() => 1);
  if (w.length !== members.length) throw new Error(`${w.length} weights for ${members.length} members`);
  const total = w.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new Error('ensemble weights must sum to a positive number');
  const { rows, cols } = members[0];
  const out = zeros(rows, cols);
  members.forEach((m, k) => {
    if (m.rows !== rows || m.cols !== cols) throw new Error(`member ${k} gives ${m.rows}×${m.cols} probabilities, expected ${rows}×${cols}`);
    const scale = w[k] / total;
    for (let i = 0; i < out.data.length; i++) out.data[i] += scale * m.data[i];
  });
  return out;
}
