/* Prints the name of the loop table libbn's dispatcher picks on this CPU
 * under the current environment (BN_ISA). Links the library's objects
 * directly, because the dispatcher is internal; run_all.sh uses it to label
 * the "default" column. */
#include <stdio.h>
#include "batchnorm_loops.h"

int main(void)
{
  printf("%s\n", bni_bn_loops_select()->name);
  return 0;
}
