/* Whole-file reading and atomic writing (file_io.h). */
#define _POSIX_C_SOURCE 200809L
#include "file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bn_status io_fail(bni_error *err, const char *what, const char *path)
{
  char reason[128];
  int saved = errno;
  if (strerror_r(saved, reason, sizeof reason) != 0)
    snprintf(reason, sizeof reason, "errno %d", saved);
  return bni_fail(err, BN_ERR_IO, "%s '%s': %s", what, path, reason);
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      if (k == 0)
        errno = EIO;
      return 0;
    }
    p += k;
    n -= (size_t)k;
  }
  return 1;
}

bn_status bni_write_file_atomic(bni_error *err, const char *path, const void *data, size_t size)
{
  const size_t len = strlen(path);
  char *tmp = malloc(len + 16), *dir = malloc(len + 2);
  if (!tmp || !dir) {
    free(tmp);
    free(dir);
    return bni_fail(err, BN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  snprintf(tmp, len + 16, "%s.tmp-XXXXXX", path);
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(dir, len + 2, ".");
  else if (slash == path)
    snprintf(dir, len + 2, "/");
  else
    snprintf(dir, len + 2, "%.*s", (int)(slash - path), path);
  bn_status st = BN_OK;
  int fd = mkstemp(tmp);
  if (fd < 0) {
    st = io_fail(err, "cannot create a temporary file next to", path);
    goto out;
  }
  if (fchmod(fd, 0644) != 0 || !write_all(fd, data, size) || fsync(fd) != 0) {
    st = io_fail(err, "cannot write", tmp);
    close(fd);
    unlink(tmp);
    goto out;
  }
  if (close(fd) != 0) {
    st = io_fail(err, "cannot close", tmp);
    unlink(tmp);
    goto out;
  }
  if (rename(tmp, path) != 0) {
    st = io_fail(err, "cannot rename the temporary file to", path);
    unlink(tmp);
    goto out;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd < 0 || fsync(dfd) != 0)
    st = io_fail(err, "cannot sync the directory", dir);
  if (dfd >= 0)
    close(dfd);
out:
  free(tmp);
  free(dir);
  return st;
}

bn_status bni_read_file(bni_error *err, const char *path, unsigned char **data, size_t *size)
{
  bn_status st = BN_OK;
  unsigned char *buf = NULL;
  size_t got = 0;
  int fd = open(path, O_RDONLY);
  struct stat sb;
  if (fd < 0) {
    st = io_fail(err, "cannot open", path);
  } else if (fstat(fd, &sb) != 0) {
    st = io_fail(err, "cannot stat", path);
  } else if (!S_ISREG(sb.st_mode)) {
    st = bni_fail(err, BN_ERR_IO, "'%s' is not a regular file", path);
  } else if ((uintmax_t)sb.st_size > (uintmax_t)(SIZE_MAX / 2)) {
    st = bni_fail(err, BN_ERR_BAD_SIZE, "'%s' is too large", path);
  } else {
    size_t want = (size_t)sb.st_size;
    buf = malloc(want ? want : 1);
    if (!buf)
      st = bni_fail(err, BN_ERR_OUT_OF_MEMORY, "no memory for %zu bytes", want);
    while (st == BN_OK && got < want) {
      ssize_t k = read(fd, buf + got, want - got);
      if (k < 0 && errno == EINTR)
        continue;
      if (k < 0)
        st = io_fail(err, "cannot read", path);
      else if (k == 0)
        break; /* shrank while reading: parse what is there */
      else
        got += (size_t)k;
    }
  }
  if (fd >= 0)
    close(fd);
  if (st != BN_OK) {
    free(buf);
    return st;
  }
  *data = buf;
  *size = got;
  return BN_OK;
}
