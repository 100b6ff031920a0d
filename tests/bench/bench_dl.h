/* Loading a libbn build by path, for the benchmarks that time two builds in
 * one process (bench_ab, bench_mlp_ab): each library is opened RTLD_LOCAL so
 * the two sets of bn_* symbols never mix. A missing library or symbol ends
 * the benchmark (exit 2) with the program's name and the cause. */
#ifndef BN_BENCH_DL_H
#define BN_BENCH_DL_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static inline void *bench_dl_open(const char *prog, const char *path)
{
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "%s: %s\n", prog, dlerror());
    exit(2);
  }
  return lib;
}

static inline void *bench_dl_sym(const char *prog, void *lib, const char *name)
{
  void *p = dlsym(lib, name);
  if (!p) {
    fprintf(stderr, "%s: %s missing\n", prog, name);
    exit(2);
  }
  return p;
}

#endif
