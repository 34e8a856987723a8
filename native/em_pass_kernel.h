// The float32 EM pass, written once with GCC/Clang vector extensions and compiled per instruction
// set: the including translation unit defines EM_NAMESPACE, EM_LANES (floats per vector) and the
// M-step's register tile EM_TILE_ROWS × EM_TILE_COLS, and is compiled with that set's flags. Nothing
// here calls a function with external linkage (no std::, only builtins), so one set's code cannot be
// folded into another's at link time.
//
// Per pixel, with y the centre pixel and d_i = x_i − y its neighbours' differences (small integers,
// exact in float32), the pass sums D_ij = Σw·d_i·d_j, T_i = Σw·y·d_i, S = Σw·y², Σw and Σw·R², from
// which em-float32.ts assembles XᵀWX = S + T_i + T_j + D_ij and XᵀWy = S + T_i. Float32 sums stay
// short: vectors are processed in groups of at most 128 per lane, after which every lane's partial
// sum is added into a float64 accumulator of its own (as em-wasm32.ts does per row).
//
// A group is done in two phases: the E-step writes each vector's d_i, y and weight w to a block of
// the work memory and sums Σw, Σw·R², S; the M-step then sweeps the group's blocks once per register
// tile of (i, j) pairs, adding (w·d_i)·d_j (j = m stands for y, giving T_i).
#include "em_pass.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>  // always-inline intrinsics only: nothing of it is linked
#endif

#ifndef EM_NAMESPACE
#error "define EM_NAMESPACE, EM_LANES, EM_TILE_ROWS and EM_TILE_COLS before including em_pass_kernel.h"
#endif

namespace EM_NAMESPACE {

const int lanes = EM_LANES;

namespace {

constexpr int L = EM_LANES;
typedef float vf __attribute__((vector_size(L * 4)));
typedef int vi __attribute__((vector_size(L * 4)));
typedef double vd __attribute__((vector_size(L * 8)));

/**
 * A group's blocks take about an L1 data cache (40 KiB), but a group has at least kMinGroupBlocks
 * blocks: at N ≥ 5 the flushes of the many accumulators cost more than the cache misses (on Xeon,
 * N = 7 ran 20% faster this way; N = 3 loses 20% once its groups leave L1).
 */
constexpr int kGroupBytes = 40 * 1024;
constexpr int kMinGroupBlocks = 48;
/** The most vectors whose products one float32 lane sums before they go to float64. */
constexpr int kMaxGroupBlocks = 128;

constexpr float kExp2MinArg = -100.0f;
/** 2^f on [−½, ½], degree 5, least maximum relative error (7.5e-8): em-wasm32.ts's polynomial. */
constexpr float kExp2[] = {1.0000000716546553f, 0.6931469670638646f, 0.2402211972393382f,
                           0.05550713274960176f, 0.00967554133068938f, 0.001327647151988963f};
/** Adding 1.5·2²³ rounds to an integer held in the low mantissa bits (bits = 0x4B400000 + n). */
constexpr float kRoundMagic = 12582912.0f;
constexpr int kExponentRebias = 127 - 0x4b400000;

inline vf loadu(const float* p) {
  vf v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void storeu(float* p, vf v) { __builtin_memcpy(p, &v, sizeof v); }
// x − (+0) is x for every x (x + 0 is not, for −0), so this folds to a plain broadcast.
inline vf splat(float x) { return x - vf{}; }
inline vf select(vi mask, vf a) { return mask ? a : vf{}; }
/** a > b ? a : b, as one instruction where the compiler would not find it. */
inline vf maximum(vf a, vf b) {
#if EM_LANES == 16 && defined(__AVX512F__)
  // (the unmasked form trips GCC 12's -Wmaybe-uninitialized on its undefined pass-through operand)
  return (vf)_mm512_maskz_max_ps((__mmask16)0xffff, (__m512)a, (__m512)b);
#elif EM_LANES == 8 && defined(__AVX__)
  return (vf)_mm256_max_ps((__m256)a, (__m256)b);
#elif EM_LANES == 4 && defined(__SSE__)
  return (vf)_mm_max_ps((__m128)a, (__m128)b);
#else
  return a > b ? a : b;
#endif
}
inline vi laneIndex() {
  vi v;
  for (int i = 0; i < L; i++) v[i] = i;
  return v;
}

constexpr int clampInt(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
constexpr int minInt(int a, int b) { return a < b ? a : b; }

template <int N>
struct Geometry {
  static constexpr int lo = -(N / 2);
  static constexpr int m = N * N - 1;
  static constexpr int centre = (N / 2) * N + N / 2;
  /** Tap t's row and column in the N×N window (raster order, centre skipped). */
  static constexpr int row(int t) { return (t < centre ? t : t + 1) / N; }
  static constexpr int col(int t) { return (t < centre ? t : t + 1) % N; }
  /** A block: d_0 … d_{m−1}, y, w, one vector each. */
  static constexpr int blockFloats = (m + 2) * L;
  static constexpr int tri = m * (m + 1) / 2;
  /** Accumulator of pair (i, j), j ≥ i; j = m is T_i. */
  static constexpr int index(int i, int j) { return j < m ? i * m - i * (i - 1) / 2 + (j - i) : tri + i; }
  static constexpr int sumW = tri + m, sumWR2 = tri + m + 1, sumYY = tri + m + 2;
  static constexpr int accumulators = em::accumulatorCount(m);
  static constexpr int groupBlocks = clampInt(kGroupBytes / (blockFloats * 4), kMinGroupBlocks, kMaxGroupBlocks);
  /** Float64 lane accumulators, then the group's blocks (64-byte aligned). */
  static constexpr int laneBytes = (accumulators * L * 8 + 63) / 64 * 64;
  static constexpr int workBytes = laneBytes + groupBlocks * blockFloats * 4;
};

/** Adds a float32 register's lanes into their float64 accumulators. */
inline void flush(vf v, double* laneTotals) {
  vd t;
  __builtin_memcpy(&t, laneTotals, sizeof t);
  t += __builtin_convertvector(v, vd);
  __builtin_memcpy(laneTotals, &t, sizeof t);
}

/**
 * 2^u·density for u ≤ 0, 0 where u < −100: 2^u = 2^n·2^f with n = round(u), f = u − n, 2^f by
 * em-wasm32.ts's polynomial; 2^n is built in the exponent bits (AVX-512: vscalefps, the same value).
 */
inline vf exp2Density(vf u, vf density) {
  const vf clamped = maximum(u, splat(kExp2MinArg));
  const vf rounded = clamped + kRoundMagic;
  const vf n = rounded - kRoundMagic;
  const vf f = clamped - n;
  vf poly = splat(kExp2[5]);
  for (int i = 4; i >= 0; i--) poly = poly * f + kExp2[i];
#if EM_LANES == 16 && defined(__AVX512F__)
  const __mmask16 live = _mm512_cmp_ps_mask((__m512)u, (__m512)splat(kExp2MinArg), _CMP_GE_OQ);
  return (vf)_mm512_maskz_scalef_ps(live, (__m512)(poly * density), (__m512)n);
#else
  const vf scale = (vf)(((vi)rounded + kExponentRebias) << 23);
  return select(u >= kExp2MinArg, poly * scale * density);
#endif
}

struct EParams {
  vf log2eOver2Var, density, p0, kc;
};

/** The E-step for the L pixels whose window starts at `window` (tap (r, c) at window[r·stride + c]). */
template <int N, bool Partial>
inline void eStep(const float* __restrict window, int stride, const float* __restrict kernel, const EParams& p, vi inRow,
                  float* __restrict block, vf& sumW, vf& sumWR2, vf& sumYY) {
  using G = Geometry<N>;
  const vf y = loadu(window - G::lo * stride - G::lo);
  vf predA = vf{}, predB = vf{};
#pragma GCC unroll 64
  for (int t = 0; t < G::m; t++) {
    const vf d = loadu(window + G::row(t) * stride + G::col(t)) - y;
    storeu(block + t * L, d);
    if (t & 1)
      predB += splat(kernel[t]) * d;
    else
      predA += splat(kernel[t]) * d;
  }
  storeu(block + G::m * L, y);
  // R = y·(1 − Σk) − Σk_i·d_i; u = −R²·log2(e)/2σ²; P1 = 2^u·density, 0 where u < −100
  const vf r = y * p.kc - predA - predB;
  const vf u = r * r * p.log2eOver2Var;
  const vf p1 = exp2Density(u, p.density);
  vf w = p1 / (p1 + p.p0);
  if (Partial) w = select(inRow, w);
  storeu(block + (G::m + 1) * L, w);
  sumW += w;
  sumWR2 += w * r * r;
  sumYY += w * y * y;
}

/** One register tile of the M-step: rows i ∈ [I0, I0+R), columns j ∈ [J0, J0+C), j ≥ i, over `count` blocks. */
template <int N, int I0, int J0>
inline void tile(const float* blocks, int count, double* laneTotals) {
  using G = Geometry<N>;
  constexpr int rows = minInt(EM_TILE_ROWS, G::m - I0);
  constexpr int cols = minInt(EM_TILE_COLS, G::m + 1 - J0);
  vf acc[rows][cols];
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) acc[r][c] = vf{};
  for (int b = 0; b < count; b++) {
    const float* block = blocks + b * G::blockFloats;
    const vf w = loadu(block + (G::m + 1) * L);
    vf wd[rows];
#pragma GCC unroll 16
    for (int r = 0; r < rows; r++) wd[r] = w * loadu(block + (I0 + r) * L);
#pragma GCC unroll 16
    for (int c = 0; c < cols; c++) {
      const vf dj = loadu(block + (J0 + c) * L);
#pragma GCC unroll 16
      for (int r = 0; r < rows; r++)
        if (J0 + c >= I0 + r) acc[r][c] += wd[r] * dj;
    }
  }
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++)
      if (J0 + c >= I0 + r) flush(acc[r][c], laneTotals + G::index(I0 + r, J0 + c) * L);
}

/** Every tile covering the upper triangle of [d | y]ᵀW[d] (rows of R, columns of C from the diagonal on). */
template <int N, int I0 = 0, int J0 = 0>
inline void mStep(const float* blocks, int count, double* laneTotals) {
  constexpr int m = Geometry<N>::m;
  if constexpr (I0 < m) {
    if constexpr (J0 <= m) {
      tile<N, I0, J0>(blocks, count, laneTotals);
      mStep<N, I0, J0 + EM_TILE_COLS>(blocks, count, laneTotals);
    } else {
      mStep<N, I0 + EM_TILE_ROWS, I0 + EM_TILE_ROWS>(blocks, count, laneTotals);
    }
  }
}

template <int N>
void passN(const em::PassArgs& a) {
  using G = Geometry<N>;
  // Locals, so that stores to the blocks cannot be taken to change them.
  const float* __restrict pixels = a.pixels;
  const int stride = a.stride, x0 = a.x0, x1 = a.x1, y0 = a.y0, y1 = a.y1;
  double* __restrict laneTotals = static_cast<double*>(a.work);
  float* __restrict blocks = reinterpret_cast<float*>(static_cast<char*>(a.work) + G::laneBytes);
  for (int i = 0; i < G::accumulators * L; i++) laneTotals[i] = 0;
  float kernel[G::m];
  for (int t = 0; t < G::m; t++) kernel[t] = a.kernel[t];
  const EParams p = {splat(a.log2eOver2Var), splat(a.density), splat(a.p0), splat(a.kernel[G::m])};
  const vi lane = laneIndex();
  vf sumW = vf{}, sumWR2 = vf{}, sumYY = vf{};
  int filled = 0;
  const auto endGroup = [&] {
    mStep<N>(blocks, filled, laneTotals);
    flush(sumW, laneTotals + G::sumW * L);
    flush(sumWR2, laneTotals + G::sumWR2 * L);
    flush(sumYY, laneTotals + G::sumYY * L);
    sumW = sumWR2 = sumYY = vf{};
    filled = 0;
  };
  for (int y = y0; y < y1; y++) {
    const float* windowRow = pixels + (y + G::lo) * stride + G::lo;
    int x = x0;
    for (; x + L <= x1; x += L) {
      eStep<N, false>(windowRow + x, stride, kernel, p, lane, blocks + filled * G::blockFloats, sumW, sumWR2, sumYY);
      if (++filled == G::groupBlocks) endGroup();
    }
    if (x < x1) {
      eStep<N, true>(windowRow + x, stride, kernel, p, lane < x1 - x, blocks + filled * G::blockFloats, sumW, sumWR2, sumYY);
      if (++filled == G::groupBlocks) endGroup();
    }
  }
  if (filled > 0) endGroup();
  for (int q = 0; q < G::accumulators; q++) {
    double total = 0;
    for (int l = 0; l < L; l++) total += laneTotals[q * L + l];
    a.totals[q] = total;
  }
}

}  // namespace

void pass(const em::PassArgs& args) {
  switch (args.n) {
    case 2: return passN<2>(args);
    case 3: return passN<3>(args);
    case 4: return passN<4>(args);
    case 5: return passN<5>(args);
    case 6: return passN<6>(args);
    case 7: return passN<7>(args);
  }
}

size_t workBytes(int n) {
  switch (n) {
    case 2: return Geometry<2>::workBytes;
    case 3: return Geometry<3>::workBytes;
    case 4: return Geometry<4>::workBytes;
    case 5: return Geometry<5>::workBytes;
    case 6: return Geometry<6>::workBytes;
    case 7: return Geometry<7>::workBytes;
  }
  return 0;
}

}  // namespace EM_NAMESPACE
