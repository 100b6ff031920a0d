/* NumPy .npy files (format versions 1.0, 2.0 and 3.0):
 *   "\x93NUMPY", u8 major, u8 minor, header length (u16 for 1.x, u32 after),
 *   a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }
 *   padded with spaces and ended by a newline, then the elements in C order.
 * Accepted: 1-D and 2-D arrays of little-endian float32/float64, signed or
 * unsigned integers and bool. Anything else (big-endian, Fortran order,
 * structured or object dtypes, other ranks) is refused with the reason.
 * The data must fill the file exactly: short and over-long files are errors. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

#define NPY_MAX_HEADER (1u << 20)

void npy_free(npy_array *a)
{
  if (a) {
    free(a->data);
    a->data = NULL;
  }
}

/* The value after 'key': in the header dict, or NULL. */
static const char *dict_value(const char *dict, const char *key)
{
  char quoted[32];
  for (int q = 0; q < 2; q++) {
    snprintf(quoted, sizeof quoted, q ? "\"%s\"" : "'%s'", key);
    const char *p = strstr(dict, quoted);
    if (!p)
      continue;
    p += strlen(quoted);
    p += strspn(p, " ");
    if (*p != ':')
      return NULL;
    p++;
    return p + strspn(p, " ");
  }
  return NULL;
}

static int parse_descr(const char *v, npy_array *a, char *reason, size_t cap)
{
  if (*v != '\'' && *v != '"') {
    snprintf(reason, cap, "structured dtypes are not supported");
    return 0;
  }
  char descr[16];
  size_t len = strcspn(v + 1, "'\"");
  if (len == 0 || len >= sizeof descr || !v[1 + len]) {
    snprintf(reason, cap, "unreadable 'descr'");
    return 0;
  }
  memcpy(descr, v + 1, len);
  descr[len] = '\0';
  char order = descr[0], kind = descr[1];
  char *end;
  long size = strtol(descr + 2, &end, 10);
  int known = (kind == 'f' && (size == 4 || size == 8)) ||
              ((kind == 'i' || kind == 'u') &&
               (size == 1 || size == 2 || size == 4 || size == 8)) ||
              (kind == 'b' && size == 1);
  if (*end || !known) {
    snprintf(reason, cap, "dtype '%s' is not supported (float32, float64, integers or bool)",
             descr);
    return 0;
  }
  if (order == '>' && size > 1) {
    snprintf(reason, cap, "dtype '%s' is big-endian; save it as little-endian "
             "(a.astype(a.dtype.newbyteorder('<')))", descr);
    return 0;
  }
  if (order != '<' && order != '|' && !(order == '>' && size == 1)) {
    snprintf(reason, cap, "dtype '%s' has no byte order this reader knows", descr);
    return 0;
  }
  a->kind = kind;
  a->item = (size_t)size;
  return 1;
}

static int parse_shape(const char *v, npy_array *a, char *reason, size_t cap)
{
  if (*v != '(') {
    snprintf(reason, cap, "unreadable 'shape'");
    return 0;
  }
  v++;
  a->ndim = 0;
  while (1) {
    v += strspn(v, " ");
    if (*v == ')')
      break;
    char *end;
    errno = 0;
    unsigned long long d = strtoull(v, &end, 10);
    if (end == v || errno == ERANGE || *v == '-' || d > SIZE_MAX) {
      snprintf(reason, cap, "unreadable 'shape'");
      return 0;
    }
    if (a->ndim == 2) {
      snprintf(reason, cap, "more than 2 dimensions (expected (samples,) or (samples, values))");
      return 0;
    }
    a->shape[a->ndim++] = (size_t)d;
    v = end + strspn(end, " ");
    if (*v == ',')
      v++;
    else if (*v != ')') {
      snprintf(reason, cap, "unreadable 'shape'");
      return 0;
    }
  }
  if (a->ndim == 0) {
    snprintf(reason, cap, "a scalar (shape ()), expected (samples,) or (samples, values)");
    return 0;
  }
  return 1;
}

int npy_read(const char *path, npy_array *out, char *err, size_t errcap)
{
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errcap, "%s: %s", path, strerror(errno));
    return CLI_FAIL;
  }
  int rc = CLI_FAIL;
  char *dict = NULL, reason[160];
  unsigned char head[12];
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    snprintf(err, errcap, "%s: not a regular file", path);
    goto out;
  }
  if (fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0) {
    snprintf(err, errcap, "%s: not a NumPy .npy file (no \\x93NUMPY magic)", path);
    goto out;
  }
  size_t hlen, prefix;
  if (head[6] == 1) {
    hlen = (size_t)head[8] | (size_t)head[9] << 8;
    prefix = 10;
  } else if (head[6] == 2 || head[6] == 3) {
    if (fread(head + 10, 1, 2, f) != 2) {
      snprintf(err, errcap, "%s: truncated inside the header", path);
      goto out;
    }
    hlen = (size_t)head[8] | (size_t)head[9] << 8 | (size_t)head[10] << 16 |
           (size_t)head[11] << 24;
    prefix = 12;
  } else {
    snprintf(err, errcap, "%s: .npy format version %d.%d is not supported (1.0 to 3.0)", path,
             head[6], head[7]);
    goto out;
  }
  if (hlen > NPY_MAX_HEADER || !(dict = malloc(hlen + 1))) {
    snprintf(err, errcap, "%s: header of %zu bytes is too long", path, hlen);
    goto out;
  }
  if (fread(dict, 1, hlen, f) != hlen) {
    snprintf(err, errcap, "%s: truncated inside the header", path);
    goto out;
  }
  dict[hlen] = '\0';
  if (strlen(dict) != hlen) {
    snprintf(err, errcap, "%s: the header holds a NUL byte", path);
    goto out;
  }
  const char *descr = dict_value(dict, "descr"), *order = dict_value(dict, "fortran_order"),
             *shape = dict_value(dict, "shape");
  if (!descr || !order || !shape) {
    snprintf(err, errcap, "%s: the header lacks 'descr', 'fortran_order' or 'shape'", path);
    goto out;
  }
  if (!parse_descr(descr, out, reason, sizeof reason) ||
      !parse_shape(shape, out, reason, sizeof reason)) {
    snprintf(err, errcap, "%s: %s", path, reason);
    goto out;
  }
  if (strncmp(order, "False", 5) != 0) {
    snprintf(err, errcap, "%s: Fortran-ordered array; save np.ascontiguousarray(a) instead",
             path);
    goto out;
  }
  size_t count = out->shape[0], cols = out->ndim == 2 ? out->shape[1] : 1;
  if (cols && count > SIZE_MAX / cols / out->item) {
    snprintf(err, errcap, "%s: the shape overflows", path);
    goto out;
  }
  size_t bytes = count * cols * out->item, have = (size_t)sb.st_size - prefix - hlen;
  if ((size_t)sb.st_size < prefix + hlen || have != bytes) {
    snprintf(err, errcap, "%s: %s: the header announces %zu data bytes, the file holds %zu",
             path, have < bytes ? "truncated" : "longer than its header says", bytes,
             (size_t)sb.st_size < prefix + hlen ? 0 : have);
    goto out;
  }
  out->data = malloc(bytes ? bytes : 1);
  if (!out->data) {
    snprintf(err, errcap, "%s: out of memory for %zu bytes", path, bytes);
    goto out;
  }
  if (fread(out->data, 1, bytes, f) != bytes) {
    snprintf(err, errcap, "%s: read error", path);
    goto out;
  }
  out->count = count;
  out->cols = cols;
  rc = CLI_OK;
out:
  free(dict);
  fclose(f);
  if (rc != CLI_OK)
    npy_free(out);
  return rc;
}

double npy_value(const npy_array *a, size_t i)
{
  const unsigned char *p = a->data + i * a->item;
  uint64_t bits = 0;
  for (size_t b = a->item; b-- > 0;)
    bits = bits << 8 | p[b];
  switch (a->kind) {
  case 'f':
    if (a->item == 4) {
      uint32_t u = (uint32_t)bits;
      float v;
      memcpy(&v, &u, sizeof v);
      return v;
    } else {
      double v;
      memcpy(&v, &bits, sizeof v);
      return v;
    }
  case 'i': {
    unsigned shift = (unsigned)(64 - 8 * a->item);
    return (double)((int64_t)(bits << shift) >> shift);
  }
  case 'b': return bits != 0;
  default: return (double)bits;
  }
}

int npy_table(const char *xpath, const char *ypath, table *out, char *err, size_t errcap)
{
  memset(out, 0, sizeof *out);
  npy_array xa, ya = {0};
  if (npy_read(xpath, &xa, err, errcap) != CLI_OK)
    return CLI_FAIL;
  int rc = CLI_FAIL;
  if (ypath && npy_read(ypath, &ya, err, errcap) != CLI_OK)
    goto out;
  if (xa.count == 0 || xa.cols == 0) {
    snprintf(err, errcap, "%s: no samples (shape %zu x %zu)", xpath, xa.count, xa.cols);
    goto out;
  }
  if (ypath && ya.count != xa.count) {
    snprintf(err, errcap, "%s holds %zu samples but %s holds %zu labels", xpath, xa.count, ypath,
             ya.count);
    goto out;
  }
  if (ypath && ya.cols == 0) {
    snprintf(err, errcap, "%s: shape (%zu, 0): no label columns", ypath, ya.count);
    goto out;
  }
  size_t total = xa.count * xa.cols;
  out->x = cli_float_array(total);
  out->labels = ypath ? malloc(ya.count * ya.cols * sizeof *out->labels) : NULL;
  if (!out->x || (ypath && !out->labels)) {
    snprintf(err, errcap, "%s: out of memory for %zu values", xpath, total);
    goto out;
  }
  for (size_t k = 0; k < total; k++) {
    double v = npy_value(&xa, k);
    const char *why = value_problem(v);
    if (why) {
      if (xa.ndim == 2)
        snprintf(err, errcap, "%s: element [%zu, %zu] %s", xpath, k / xa.cols, k % xa.cols, why);
      else
        snprintf(err, errcap, "%s: element [%zu] %s", xpath, k, why);
      goto out;
    }
    out->x[k] = (float)v;
  }
  for (size_t k = 0; ypath && k < ya.count * ya.cols; k++)
    out->labels[k] = npy_value(&ya, k);
  out->n = xa.count;
  out->features = xa.cols;
  out->label_cols = ypath ? ya.cols : 0;
  out->path = xpath;
  out->label_path = ypath;
  rc = CLI_OK;
out:
  npy_free(&xa);
  npy_free(&ya);
  if (rc != CLI_OK)
    table_free(out);
  return rc;
}
