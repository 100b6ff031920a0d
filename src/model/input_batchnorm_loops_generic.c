/* Portable loops (the baseline x86-64 or any CPU); see input_batchnorm_loops.h. */
#define BNI_IBN_LOOPS_TABLE bni_ibn_loops_generic
#define BNI_IBN_LOOPS_NAME "generic"
#include "input_batchnorm_loops.inc"
