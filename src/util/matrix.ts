/** A dense row-major float32 matrix: the one shape features, probabilities and weights take. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

export function zeros(rows: number, cols: number): Matrix {
  return { rows, cols, data: new Float32Array(rows * cols) };
}

export function fromRows(rows: ArrayLike<number>[]): Matrix {
  const cols = rows.length ? rows[0].length : 0;
  const m = zeros(rows.length, cols);
  rows.forEach((r, i) => {
    if (r.length !== cols) throw new Error(`row ${i} has ${r.length} values, expected ${cols}`);
    m.data.set(r as ArrayLike<number>, i * cols);
  });
  return m;
}

export function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** Rows picked by index, copied into a new matrix. */
export function takeRows(m: Matrix, indices: ArrayLike<number>): Matrix {
  const out = zeros(indices.length, m.cols);
  for (let i = 0; i < indices.length; i++) out.data.set(row(m, indices[i]), i * m.cols);
  return out;
}

/** Index of the largest value (the first one on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < values.length; k++) if (values[k] > values[best]) best = k;
  return best;
}

export function argmaxRows(m: Matrix): Int32Array {
  const out = new Int32Array(m.rows);
  for (let i = 0; i < m.rows; i++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let j = 0; j < m.cols; j++) {
      const v = m.data[i * m.cols + j];
      if (v > bestValue) {
        bestValue = v;
        best = j;
      }
    }
    out[i] = best;
  }
  return out;
}

/** Horizontal concatenation of matrices with the same number of rows. */
export function hconcat(parts: Matrix[]): Matrix {
  const rows = parts[0].rows;
  const cols = parts.reduce((s, p) => s + p.cols, 0);
  const out = zeros(rows, cols);
  for (let i = 0; i < rows; i++) {
    let offset = i * cols;
    for (const p of parts) {
      if (p.rows !== rows) throw new Error(`hconcat: ${p.rows} rows vs ${rows}`);
      out.data.set(row(p, i), offset);
      offset += p.cols;
    }
  }
  return out;
}

/** Mean of each column over the rows where `include(row)` is true (zeros when none is). */
export function columnMeans(m: Matrix, include: (row: number) => boolean): number[] {
  const sums = new Float64Array(m.cols);
  let count = 0;
  for (let i = 0; i < m.rows; i++) {
    if (!include(i)) continue;
    count++;
    for (let j = 0; j < m.cols; j++) sums[j] += m.data[i * m.cols + j];
  }
  return Array.from(sums, (v) => (count ? v / count : 0));
}
