// Every public header, from C++ (tests/headers.cmake generates all_headers.hpp,
// one #include per include/bn/*.h). Compiling proves the headers are valid,
// warning-free C++; linking and running proves their extern "C" blocks match
// the library's symbols.
#include "all_headers.hpp"

#include <cstdio>
#include <cstring>

int main()
{
  bn_rng rng;
  if (bn_rng_seed(&rng, 42) != BN_OK)
    return std::puts("bn_rng_seed failed"), 1;
  double u = -1.0;
  bn_status st = bn_rng_uniform(&rng, &u);
  if (st != BN_OK || !(u >= 0.0 && u < 1.0))
    return std::puts("bn_rng_uniform failed"), 1;
  if (std::strlen(bn_status_string(BN_ERR_OUT_OF_MEMORY)) == 0)
    return std::puts("empty status string"), 1;
  return 0;
}
