/* Runs a check once per instruction-set path a table selector picks under
 * each BN_ISA cap (generic, avx2, none: the widest the CPU has), skipping
 * caps that select a path already seen, and restores BN_ISA after:
 *
 *   isa_caps caps;
 *   isa_caps_begin(&caps);
 *   while (isa_caps_next(&caps))
 *     if (isa_caps_is_new(&caps, select()))
 *       ...check select()'s path...
 */
#ifndef BN_TESTS_ISA_CAPS_H
#define BN_TESTS_ISA_CAPS_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum { ISA_CAPS = 3 };

typedef struct isa_caps {
  char *saved; /* BN_ISA before, or NULL */
  const void *seen[ISA_CAPS];
  size_t next;
} isa_caps;

static void isa_caps_begin(isa_caps *c)
{
  const char *kept = getenv("BN_ISA");
  memset(c, 0, sizeof *c);
  c->saved = kept ? strdup(kept) : NULL;
}

/* Sets BN_ISA to the next cap; 0 when every cap has run (BN_ISA restored). */
static int isa_caps_next(isa_caps *c)
{
  static const char *const caps[ISA_CAPS] = {"generic", "avx2", NULL};
  if (c->next == ISA_CAPS) {
    if (c->saved)
      setenv("BN_ISA", c->saved, 1);
    else
      unsetenv("BN_ISA");
    free(c->saved);
    c->saved = NULL;
    return 0;
  }
  const char *cap = caps[c->next++];
  if (cap)
    setenv("BN_ISA", cap, 1);
  else
    unsetenv("BN_ISA");
  return 1;
}

/* Whether `path` (the table the selector gave under this cap) is new. */
static int isa_caps_is_new(isa_caps *c, const void *path)
{
  const size_t current = c->next - 1;
  for (size_t p = 0; p < current; p++)
    if (c->seen[p] == path)
      return 0;
  c->seen[current] = path;
  return 1;
}

#endif
