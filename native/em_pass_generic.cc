// The baseline of the target (SSE2 on x86-64, NEON on arm64): 4 floats per vector, 16 registers.
#define EM_NAMESPACE em_generic
#define EM_LANES 4
#define EM_TILE_ROWS 3
#define EM_TILE_COLS 4
#include "em_pass_kernel.h"
