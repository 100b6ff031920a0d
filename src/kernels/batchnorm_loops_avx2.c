/* AVX2 + FMA loops; this file alone is compiled with -mavx2 -mfma and only
 * runs after bni_bn_loops_select() saw both features on the CPU. */
#include <math.h>
#include "batchnorm_loops.h"

#define BNI_LOOPS_TABLE bni_bn_loops_avx2
#define BNI_LOOPS_NAME "avx2"
#define BNI_FMA(a, b, c) fmaf((a), (b), (c))
#include "batchnorm_loops.inc"
