// One float32 EM pass over an 8-bit channel (see src/forensics/em-native.ts and em-wasm32.ts for the
// algorithm and its accuracy argument). Each instruction set's translation unit (em_pass_<isa>.cc)
// compiles em_pass_kernel.h with its own flags into its own namespace, so no function compiled for
// one instruction set can be linked in place of another's.
#pragma once

#include <cstddef>

namespace em {

/** Largest kernel size (N) a pass is compiled for, as the WebAssembly float32 pass. */
constexpr int kMaxKernelSize = 7;
/** A channel must be followed by this many readable floats (a row's last vector reads past the row). */
constexpr int kPadFloats = 16;

struct PassArgs {
  /** The channel as float32, row-major, `stride` floats per row, then kPadFloats readable floats. */
  const float* pixels;
  int stride;
  /** Interior pixels: x in [x0, x1), y in [y0, y1). */
  int x0, x1, y0, y1;
  /** Kernel size N (2…kMaxKernelSize). */
  int n;
  /** The m = N²−1 non-centre weights in raster order, then 1 − Σk. */
  const float* kernel;
  /** −log2(e)/(2σ²), 1/(σ√(2π)) and p0 of the E-step. */
  float log2eOver2Var, density, p0;
  /** Work memory of workBytes(n) bytes, 64-byte aligned. */
  void* work;
  /**
   * accumulatorCount(m) totals, overwritten: D_ij = Σw·d_i·d_j (upper triangle with diagonal, row by
   * row), T_i = Σw·y·d_i, then Σw, Σw·R², S = Σw·y² (the order em-wasm32.ts uses).
   */
  double* totals;
};

constexpr int accumulatorCount(int m) { return m * (m + 1) / 2 + m + 3; }

/** One instruction set's pass. */
struct Isa {
  const char* name;
  int lanes;
  void (*pass)(const PassArgs&);
  size_t (*workBytes)(int n);
};

}  // namespace em

#define EM_DECLARE_ISA(ns)                  \
  namespace ns {                            \
  void pass(const em::PassArgs& args);      \
  size_t workBytes(int n);                  \
  extern const int lanes;                   \
  }

EM_DECLARE_ISA(em_generic)
#if defined(__x86_64__) || defined(_M_X64)
EM_DECLARE_ISA(em_avx2)
EM_DECLARE_ISA(em_avx512)
#endif
