/**
 * Plain-JavaScript dense kernels: the reference the wasm SIMD kernels are tested against, the
 * fallback where wasm SIMD is missing, and (over Float64Array) the float64 path gradient checks use.
 */

export type FloatArray = Float32Array | Float64Array;

/**
 * C[i·ldc + j] = Σ_p A[i·aRow + p·aCol] · B[p·ldb + j]   for i < m, j < n, p < k (C overwritten).
 *
 * One kernel serves every product the heads need because A is read through two strides:
 * X·W (aRow = ld, aCol = 1), Xᵀ·D (aRow = 1, aCol = ld). B and C are row-major with leading
 * dimensions ldb, ldc. Loop order keeps a 4×4 tile of C in registers while streaming one row of B
 * and one column of A per step (4 loads of B + 4 of A for 16 multiply-adds).
 */
export function gemm(
  m: number, n: number, k: number,
  a: FloatArray, aRow: number, aCol: number,
  b: FloatArray, ldb: number,
  c: FloatArray, ldc: number,
): void {
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let pa = i * aRow;
      let pb = j;
      for (let p = 0; p < k; p++, pa += aCol, pb += ldb) {
        const b0 = b[pb], b1 = b[pb + 1], b2 = b[pb + 2], b3 = b[pb + 3];
        let x = a[pa];
        c00 += x * b0; c01 += x * b1; c02 += x * b2; c03 += x * b3;
        x = a[pa + aRow];
        c10 += x * b0; c11 += x * b1; c12 += x * b2; c13 += x * b3;
        x = a[pa + 2 * aRow];
        c20 += x * b0; c21 += x * b1; c22 += x * b2; c23 += x * b3;
        x = a[pa + 3 * aRow];
        c30 += x * b0; c31 += x * b1; c32 += x * b2; c33 += x * b3;
      }
      let pc = i * ldc + j;
      c[pc] = c00; c[pc + 1] = c01; c[pc + 2] = c02; c[pc + 3] = c03; pc += ldc;
      c[pc] = c10; c[pc + 1] = c11; c[pc + 2] = c12; c[pc + 3] = c13; pc += ldc;
      c[pc] = c20; c[pc + 1] = c21; c[pc + 2] = c22; c[pc + 3] = c23; pc += ldc;
      c[pc] = c30; c[pc + 1] = c31; c[pc + 2] = c32; c[pc + 3] = c33;
    }
    gemmEdge(i, i + 4, j, n, k, a, aRow, aCol, b, ldb, c, ldc);
  }
  gemmEdge(i, m, 0, n, k, a, aRow, aCol, b, ldb, c, ldc);
}

/** The rows/columns left over by the 4×4 tiles, one C entry at a time (4-way unrolled over k). */
function gemmEdge(
  rowStart: number, rowEnd: number, colStart: number, n: number, k: number,
  a: FloatArray, aRow: number, aCol: number, b: FloatArray, ldb: number, c: FloatArray, ldc: number,
): void {
  for (let i = rowStart; i < rowEnd; i++) {
    for (let j = colStart; j < n; j++) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let pa = i * aRow;
      let pb = j;
      let p = 0;
      for (; p + 4 <= k; p += 4, pa += 4 * aCol, pb += 4 * ldb) {
        s0 += a[pa] * b[pb];
        s1 += a[pa + aCol] * b[pb + ldb];
        s2 += a[pa + 2 * aCol] * b[pb + 2 * ldb];
        s3 += a[pa + 3 * aCol] * b[pb + 3 * ldb];
      }
      for (; p < k; p++, pa += aCol, pb += ldb) s0 += a[pa] * b[pb];
      c[i * ldc + j] = s0 + s1 + s2 + s3;
    }
  }
}

/** The textbook triple loop, for tests. */
export function gemmNaive(
  m: number, n: number, k: number,
  a: FloatArray, aRow: number, aCol: number,
  b: FloatArray, ldb: number,
  c: FloatArray, ldc: number,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * aRow + p * aCol] * b[p * ldb + j];
      c[i * ldc + j] = sum;
    }
  }
}
