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
#include <time.h>
#include <unistd.h>

/* Symbolic links followed before giving up (Linux's own limit). */
#define MAX_LINK_HOPS 40
/* Temporary names tried before giving up (each collision is astronomically unlikely). */
#define MAX_NAME_TRIES 100

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

/* The directory part of path ("." or "/" when it has none). */
static char *directory_of(const char *path)
{
  const char *slash = strrchr(path, '/');
  size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
  char *dir = malloc(n + 1);
  if (dir) {
    memcpy(dir, !slash ? "." : slash == path ? "/" : path, n);
    dir[n] = '\0';
  }
  return dir;
}

/* The target of the symbolic link at link (lstat gave its length), made a
 * path: a relative target is relative to the link's directory. */
static char *link_target(const char *link, size_t length)
{
  char *target = malloc(length + 1), *dir = directory_of(link), *path = NULL;
  errno = ENOMEM; /* an allocator need not set it */
  ssize_t n = target && dir ? readlink(link, target, length + 1) : -1;
  if (n > (ssize_t)length)
    errno = EAGAIN; /* the link was replaced by a longer one meanwhile */
  if (n >= 0 && n <= (ssize_t)length) {
    target[n] = '\0';
    size_t cap = strlen(dir) + (size_t)n + 2;
    if ((path = malloc(cap)) == NULL)
      errno = ENOMEM;
    else
      snprintf(path, cap, target[0] == '/' ? "%.0s%s" : "%s/%s", dir, target);
  }
  int saved = errno;
  free(target);
  free(dir);
  errno = saved;
  return path;
}

/* The file path names once symbolic links are followed (the last link's
 * target need not exist: saving creates it). NULL with errno on failure. */
static char *follow_links(const char *path)
{
  size_t n = strlen(path) + 1;
  char *cur = malloc(n);
  if (!cur) {
    errno = ENOMEM;
    return NULL;
  }
  memcpy(cur, path, n);
  for (int hop = 0;; hop++) {
    struct stat sb;
    if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode))
      return cur;
    char *next = hop < MAX_LINK_HOPS ? link_target(cur, (size_t)sb.st_size) : NULL;
    int saved = hop < MAX_LINK_HOPS ? errno : ELOOP;
    free(cur);
    if (!next) {
      errno = saved;
      return NULL;
    }
    cur = next;
  }
}

/* Create path's temporary sibling (name written into tmp) with mode: the
 * kernel applies the umask, as for any new file. No global state: the name's
 * suffix mixes the clock, the process id and the try count. */
static int create_temporary(const char *target, char *tmp, size_t cap, mode_t mode)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 12) ^
               (uint64_t)(uintptr_t)tmp;
  for (int i = 0; i < MAX_NAME_TRIES; i++) {
    x += 0x9E3779B97F4A7C15u; /* splitmix64 */
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    snprintf(tmp, cap, "%s.tmp-%012llx", target, (unsigned long long)(z & 0xFFFFFFFFFFFFull));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EEXIST)
      return fd;
  }
  return -1;
}

bn_status bni_write_file_atomic(bni_error *err, const char *path, const void *data, size_t size)
{
  char *target = follow_links(path);
  if (!target) {
    if (errno == ENOMEM)
      return bni_fail(err, BN_ERR_OUT_OF_MEMORY, "out of memory");
    return io_fail(err, "cannot follow the symbolic link", path);
  }
  const size_t cap = strlen(target) + 32;
  char *tmp = malloc(cap), *dir = directory_of(target);
  bn_status st = BN_OK;
  int fd = -1;
  struct stat old;
  int replacing = stat(target, &old) == 0;
  if (!tmp || !dir) {
    st = bni_fail(err, BN_ERR_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  if (replacing && !S_ISREG(old.st_mode)) {
    st = bni_fail(err, BN_ERR_IO, "cannot save over '%s': not a regular file", target);
    goto out;
  }
  /* A new file gets 0666 minus the umask (applied by open); a replaced one
   * keeps its permission bits (set after open, which the umask would trim). */
  fd = create_temporary(target, tmp, cap, replacing ? (old.st_mode & 07777) : 0666);
  if (fd < 0) {
    st = io_fail(err, "cannot create a temporary file next to", target);
    goto out;
  }
  if ((replacing && fchmod(fd, old.st_mode & 07777) != 0) || !write_all(fd, data, size) ||
      fsync(fd) != 0) {
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
  if (rename(tmp, target) != 0) {
    st = io_fail(err, "cannot rename the temporary file to", target);
    unlink(tmp);
    goto out;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0)
    st = io_fail(err, "cannot sync the directory", dir);
  if (dfd >= 0)
    close(dfd);
out:
  free(target);
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
