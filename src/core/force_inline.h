#ifndef BNI_FORCE_INLINE_H
#define BNI_FORCE_INLINE_H

/* For the small helpers of the per-ISA element loops: each must dissolve
 * into its loop (a call would spill the vector registers the loop keeps),
 * which gcc and clang only promise with always_inline. */
#if defined(__GNUC__)
#define BNI_INLINE static inline __attribute__((always_inline))
#else
#define BNI_INLINE static inline
#endif

/* The opposite, for a hot loop that compiles better alone than inlined into
 * a large caller (see its use). */
#if defined(__GNUC__)
#define BNI_NOINLINE static __attribute__((noinline))
#else
#define BNI_NOINLINE static
#endif

#endif
