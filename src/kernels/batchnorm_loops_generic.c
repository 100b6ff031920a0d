/* Portable loops: baseline ISA, no fused multiply-add (a*b+c rounds twice). */
#include "batchnorm_loops.h"

#define BNI_LOOPS_TABLE bni_bn_loops_generic
#define BNI_LOOPS_NAME "generic"
#define BNI_FMA(a, b, c) ((a) * (b) + (c))
#include "batchnorm_loops.inc"
