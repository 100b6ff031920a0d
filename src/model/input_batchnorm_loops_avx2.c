/* AVX2 + FMA loops, compiled with their flags; see input_batchnorm_loops.h. */
#define BNI_IBN_LOOPS_TABLE bni_ibn_loops_avx2
#define BNI_IBN_LOOPS_NAME "avx2"
#include "input_batchnorm_loops.inc"
