/* AVX-512 F/VL/BW/DQ loops, compiled with their flags; see input_batchnorm_loops.h. */
#define BNI_IBN_LOOPS_TABLE bni_ibn_loops_avx512
#define BNI_IBN_LOOPS_NAME "avx512"
#include "input_batchnorm_loops.inc"
