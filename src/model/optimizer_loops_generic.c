/* Portable loops (the baseline x86-64 or any CPU); see optimizer_loops.h. */
#define BNI_OPT_LOOPS_TABLE bni_opt_loops_generic
#define BNI_OPT_LOOPS_NAME "generic"
#include "optimizer_loops.inc"
