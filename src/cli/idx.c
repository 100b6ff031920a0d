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

/* The header: dimensions into out (data stays NULL); 0 = CLI_OK. */
static int read_header(gzFile g, const char *path, size_t fsize, int ndims_min, int ndims_max,
                       idx_file *out, char *err, size_t errcap)
{
  unsigned char head[16];
  long long k = read_exact(g, head, 4);
  if (k < 0)
    return gz_problem(g, path, err, errcap, "cannot read the header");
  if (k < 4) {
    snprintf(err, errcap, "%s: truncated (%lld bytes, an IDX header needs 4)", path, k);
    return CLI_FAIL;
  }
  if (head[0] != 0 || head[1] != 0 || head[2] != IDX_UBYTE) {
    snprintf(err, errcap,
             "%s: not an IDX file of unsigned bytes (magic %02x %02x %02x %02x, expected 00 00 08 "
             "0N)",
             path, head[0], head[1], head[2], head[3]);
    return CLI_FAIL;
  }
  int nd = head[3];
  if (nd < ndims_min || nd > ndims_max) {
    if (ndims_min == ndims_max)
      snprintf(err, errcap, "%s: %d dimensions, expected %d (wrong file?)", path, nd, ndims_min);
    else
      snprintf(err, errcap, "%s: %d dimensions, expected %d to %d (wrong file?)", path, nd,
               ndims_min, ndims_max);
    return CLI_FAIL;
  }
  k = read_exact(g, head + 4, 4u * (unsigned)nd);
  if (k != 4 * nd) {
    snprintf(err, errcap, "%s: truncated inside the header", path);
    return CLI_FAIL;
  }
  size_t total = 1, item = 1;
  for (int d = 0; d < nd; d++) {
    const unsigned char *p = head + 4 + 4 * d;
    size_t v = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | (size_t)p[3];
    out->dims[d] = v;
    if (v == 0) {
      snprintf(err, errcap, "%s: dimension %d is 0", path, d);
      return CLI_FAIL;
    }
    if (total > SIZE_MAX / v) {
      snprintf(err, errcap, "%s: the dimensions overflow", path);
      return CLI_FAIL;
    }
    total *= v;
    if (d > 0)
      item *= v;
  }
  /* Bound the announced size by what the file can hold. */
  size_t header = 4 + 4 * (size_t)nd;
  int direct = gzdirect(g);
  if ((direct && total > fsize - (fsize < header ? fsize : header)) ||
      (!direct && total / MAX_RATIO > fsize)) {
    snprintf(err, errcap, "%s: truncated: the header announces %zu bytes of data, the file "
             "cannot hold them",
             path, total);
    return CLI_FAIL;
  }
  out->ndims = nd;
  out->count = out->dims[0];
  out->item = item;
  return CLI_OK;
}

/* Where the body's bytes go: all of them as bytes, or the first `keep` of
 * them as floats in [0, 1] (the rest are read and checked, not kept). */
typedef struct idx_sink {
  unsigned char *bytes;
  float *floats;
  size_t keep;
} idx_sink;

/* Bytes per inflate of a streamed body: the bytes stay in L2 until they
 * are converted, and no body-sized byte buffer is ever touched. */
#define STREAM_CHUNK (256u * 1024u)

/* Read total bytes (no more, no fewer) into the sink. */
static int read_body(gzFile g, const char *path, size_t total, const idx_sink *sink, char *err,
                     size_t errcap)
{
  long long k = 0;
  if (sink->bytes) {
    k = read_exact(g, sink->bytes, total);
  } else {
    unsigned char *chunk = malloc(STREAM_CHUNK);
    if (!chunk) {
      snprintf(err, errcap, "%s: out of memory for a read buffer", path);
      return CLI_FAIL;
    }
    size_t done = 0;
    while (done < total) {
      size_t want = total - done < STREAM_CHUNK ? total - done : STREAM_CHUNK;
      long long got = read_exact(g, chunk, want);
      if (got < 0) {
        k = got;
        break;
      }
      size_t use = done >= sink->keep ? 0 : sink->keep - done < (size_t)got
                                                ? sink->keep - done : (size_t)got;
      pixels_to_floats(chunk, use, sink->floats + done);
      done += (size_t)got, k = (long long)done;
      if ((size_t)got < want)
        break;
    }
    free(chunk);
  }
  if (k < 0)
    return gz_problem(g, path, err, errcap, "cannot read the data");
  if ((size_t)k < total) {
    snprintf(err, errcap, "%s: truncated: %lld of %zu data bytes", path, k, total);
    return CLI_FAIL;
  }
  unsigned char extra;
  k = read_exact(g, &extra, 1);
  if (k < 0)
    return gz_problem(g, path, err, errcap, "cannot read the data");
  if (k > 0) {
    snprintf(err, errcap, "%s: longer than its header says (trailing data)", path);
    return CLI_FAIL;
  }
  return CLI_OK;
}

/* Open path, read its header, give the body to the sink that make_sink
 * prepares once the size is known. */
typedef int (*sink_maker)(idx_file *f, size_t limit, idx_sink *sink, float **floats,
                          const char *path, char *err, size_t errcap);

static int read_idx(const char *path, int ndims_min, int ndims_max, size_t limit,
                    sink_maker make_sink, idx_file *out, float **floats, char *err,
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
  gzbuffer(g, STREAM_CHUNK); /* fewer, larger reads of the compressed file */
  idx_sink sink = {NULL, NULL, 0};
  int rc = read_header(g, path, (size_t)sb.st_size, ndims_min, ndims_max, out, err, errcap);
  if (rc == CLI_OK)
    rc = make_sink(out, limit, &sink, floats, path, err, errcap);
  if (rc == CLI_OK)
    rc = read_body(g, path, out->count * out->item, &sink, err, errcap);
  gzclose(g);
  if (rc != CLI_OK) {
    idx_free(out);
    if (floats) {
      free(*floats);
      *floats = NULL;
    }
  }
  return rc;
}

static int byte_sink(idx_file *f, size_t limit, idx_sink *sink, float **floats,
                     const char *path, char *err, size_t errcap)
{
  (void)limit, (void)floats;
  const size_t total = f->count * f->item;
  f->data = malloc(total ? total : 1);
  if (!f->data) {
    snprintf(err, errcap, "%s: out of memory for %zu bytes", path, total);
    return CLI_FAIL;
  }
  sink->bytes = f->data;
  return CLI_OK;
}

static int float_sink(idx_file *f, size_t limit, idx_sink *sink, float **floats,
                      const char *path, char *err, size_t errcap)
{
  const size_t n = limit && limit < f->count ? limit : f->count;
  *floats = cli_float_array(n * f->item);
  if (!*floats) {
    snprintf(err, errcap, "%s: out of memory for %zu samples", path, n);
    return CLI_FAIL;
  }
  sink->floats = *floats;
  sink->keep = n * f->item;
  return CLI_OK;
}

int idx_read(const char *path, int ndims_min, int ndims_max, idx_file *out, char *err,
             size_t errcap)
{
  return read_idx(path, ndims_min, ndims_max, 0, byte_sink, out, NULL, err, errcap);
}

int idx_read_pixels(const char *path, int ndims_min, int ndims_max, size_t limit, idx_file *out,
                    float **pixels, char *err, size_t errcap)
{
  *pixels = NULL;
  return read_idx(path, ndims_min, ndims_max, limit, float_sink, out, pixels, err, errcap);
}
