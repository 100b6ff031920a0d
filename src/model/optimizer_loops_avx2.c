/* AVX2 + FMA loops, compiled with -mavx2 -mfma; see optimizer_loops.h. */
#define BNI_OPT_LOOPS_TABLE bni_opt_loops_avx2
#define BNI_OPT_LOOPS_NAME "avx2"
#include "optimizer_loops.inc"
