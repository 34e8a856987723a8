// AVX-512 (16 floats per vector, 32 registers): built with -mavx512f -mavx512dq -mavx512vl -mavx512bw -mfma;
// em_addon.cc calls it only where CPUID says the processor and the OS support all of these.
#define EM_NAMESPACE em_avx512
#define EM_LANES 16
#define EM_TILE_ROWS 4
#define EM_TILE_COLS 6
#include "em_pass_kernel.h"
