/* AVX-512 F/VL/BW/DQ loops, compiled with their flags; see optimizer_loops.h. */
#define BNI_OPT_LOOPS_TABLE bni_opt_loops_avx512
#define BNI_OPT_LOOPS_NAME "avx512"
#include "optimizer_loops.inc"
