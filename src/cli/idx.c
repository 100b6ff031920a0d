/* IDX files (LeCun's MNIST format), gzip-compressed or plain, through zlib:
 *   u8 0, u8 0, u8 type (0x08 = unsigned byte), u8 ndims,
 *   ndims big-endian u32 dimensions, then the bytes, row-major.
 * The size the header announces is bounded before anything is allocated:
 * by the file size for a plain file, by deflate's maximum ratio for a
 * compressed one. Short and over-long files are errors. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "cli.h"

#define IDX_UBYTE 0x08
/* deflate never compresses more than 1032:1 */
#define MAX_RATIO 1032u

void idx_free(idx_file *f)
{
  if (f) {
    free(f->data);
    f->data = NULL;
  }
}

/* Read exactly n bytes; returns the count read (short on EOF) or -1 on error. */
static long long read_exact(gzFile g, unsigned char *p, size_t n)
{
  size_t got = 0;
  while (got < n) {
    size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
    int k = gzread(g, p + got, (unsigned)chunk);
    if (k < 0)
      return -1;
    if (k == 0)
      break;
    got += (size_t)k;
  }
  return (long long)got;
}

static int gz_problem(gzFile g, const char *path, char *err, size_t errcap, const char *what)
{
  int code = 0;
  const char *msg = gzerror(g, &code);
  snprintf(err, errcap, "%s: %s (%s)", path, what,
           code == Z_BUF_ERROR ? "truncated compressed data" : msg);
  return CLI_FAIL;
}

int idx_read(const char *path, int ndims_min, int ndims_max, idx_file *out, char *err,
             size_t errcap)
{
  memset(out, 0, sizeof *out);
  struct stat sb;
  if (stat(path, &sb) != 0) {
    snprintf(err, errcap, "%s: %s", path, strerror(errno));
    return CLI_FAIL;
  }
  if (!S_ISREG(sb.st_mode)) {
    snprintf(err, errcap, "%s: not a regular file", path);
    return CLI_FAIL;
  }
  gzFile g = gzopen(path, "rb");
  if (!g) {
    snprintf(err, errcap, "%s: %s", path, errno ? strerror(errno) : "cannot open");
    return CLI_FAIL;
  }
  int rc = CLI_FAIL;
  unsigned char head[16];
  long long k = read_exact(g, head, 4);
  if (k < 0) {
    gz_problem(g, path, err, errcap, "cannot read the header");
    goto out;
  }
  if (k < 4) {
    snprintf(err, errcap, "%s: truncated (%lld bytes, an IDX header needs 4)", path, k);
    goto out;
  }
  if (head[0] != 0 || head[1] != 0 || head[2] != IDX_UBYTE) {
    snprintf(err, errcap,
             "%s: not an IDX file of unsigned bytes (magic %02x %02x %02x %02x, expected 00 00 08 "
             "0N)",
             path, head[0], head[1], head[2], head[3]);
    goto out;
  }
  int nd = head[3];
  if (nd < ndims_min || nd > ndims_max) {
    if (ndims_min == ndims_max)
      snprintf(err, errcap, "%s: %d dimensions, expected %d (wrong file?)", path, nd, ndims_min);
    else
      snprintf(err, errcap, "%s: %d dimensions, expected %d to %d (wrong file?)", path, nd,
               ndims_min, ndims_max);
    goto out;
  }
  k = read_exact(g, head + 4, 4u * (unsigned)nd);
  if (k != 4 * nd) {
    snprintf(err, errcap, "%s: truncated inside the header", path);
    goto out;
  }
  size_t total = 1, item = 1;
  for (int d = 0; d < nd; d++) {
    const unsigned char *p = head + 4 + 4 * d;
    size_t v = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | (size_t)p[3];
    out->dims[d] = v;
    if (v == 0) {
      snprintf(err, errcap, "%s: dimension %d is 0", path, d);
      goto out;
    }
    if (total > SIZE_MAX / v) {
      snprintf(err, errcap, "%s: the dimensions overflow", path);
      goto out;
    }
    total *= v;
    if (d > 0)
      item *= v;
  }
  /* Bound the announced size by what the file can hold. */
  size_t header = 4 + 4 * (size_t)nd, fsize = (size_t)sb.st_size;
  int direct = gzdirect(g);
  if ((direct && total > fsize - (fsize < header ? fsize : header)) ||
      (!direct && total / MAX_RATIO > fsize)) {
    snprintf(err, errcap, "%s: truncated: the header announces %zu bytes of data, the file "
             "cannot hold them",
             path, total);
    goto out;
  }
  out->data = malloc(total ? total : 1);
  if (!out->data) {
    snprintf(err, errcap, "%s: out of memory for %zu bytes", path, total);
    goto out;
  }
  k = read_exact(g, out->data, total);
  if (k < 0) {
    gz_problem(g, path, err, errcap, "cannot read the data");
    goto out;
  }
  if ((size_t)k < total) {
    snprintf(err, errcap, "%s: truncated: %lld of %zu data bytes", path, k, total);
    goto out;
  }
  unsigned char extra;
  k = read_exact(g, &extra, 1);
  if (k < 0) {
    gz_problem(g, path, err, errcap, "cannot read the data");
    goto out;
  }
  if (k > 0) {
    snprintf(err, errcap, "%s: longer than its header says (trailing data)", path);
    goto out;
  }
  out->ndims = nd;
  out->count = out->dims[0];
  out->item = item;
  rc = CLI_OK;
out:
  gzclose(g);
  if (rc != CLI_OK)
    idx_free(out);
  return rc;
}
