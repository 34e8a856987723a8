// AVX2 + FMA (8 floats per vector, 16 registers): built with -mavx2 -mfma; used where CPUID reports both.
#define EM_NAMESPACE em_avx2
#define EM_LANES 8
#define EM_TILE_ROWS 3
#define EM_TILE_COLS 4
#include "em_pass_kernel.h"
