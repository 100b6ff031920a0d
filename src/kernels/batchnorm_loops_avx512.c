/* AVX-512 (F, VL, BW, DQ) + FMA loops; this file alone is compiled with the
 * matching -m flags and only runs after bni_bn_loops_select() saw all of
 * them on the CPU. Same expressions as the AVX2 loops (fmaf is one fused
 * multiply-add in both), so both paths give bit-identical results. */
#include <math.h>
#include "batchnorm_loops.h"

#define BNI_LOOPS_TABLE bni_bn_loops_avx512
#define BNI_LOOPS_NAME "avx512"
#define BNI_FMA(a, b, c) fmaf((a), (b), (c))
#include "batchnorm_loops.inc"
