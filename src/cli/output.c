/* Output files written atomically: the text goes to a temporary file in the
 * target's directory, which replaces the target by rename() only once every
 * byte is written and synced. A failure at any point (no space, a file-size
 * limit, an unwritable directory) leaves the previous file as it was. The
 * replacement keeps the old file's permissions (a new file gets 0666 minus
 * the umask), and a symbolic link is written through to its target.
 * Devices and pipes (/dev/null, /dev/stdout) cannot be replaced: they are
 * written directly. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

/* The file a path names: the target of a symbolic link, else the path. */
static char *resolve(const char *path)
{
  struct stat sb;
  if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
    return realpath(path, NULL);
  return strdup(path);
}

static mode_t new_file_mode(void)
{
  mode_t mask = umask(0);
  umask(mask);
  return 0666 & ~mask;
}

/* An existing file that is neither regular nor a directory. */
static int is_special(const char *path)
{
  struct stat sb;
  return stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode);
}

int atomic_open(const char *path, atomic_file *a, char *err, size_t errcap)
{
  memset(a, 0, sizeof *a);
  /* Past a file-size limit write() should fail with EFBIG, not kill us
   * half-way: the temporary file is then removed and the error reported. */
  signal(SIGXFSZ, SIG_IGN);
  if (is_special(path)) {
    if (!(a->f = fopen(path, "w"))) {
      snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
      return CLI_FAIL;
    }
    return CLI_OK;
  }
  a->path = resolve(path);
  if (!a->path) {
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
    return CLI_FAIL;
  }
  struct stat sb;
  mode_t mode = stat(a->path, &sb) == 0 ? sb.st_mode & 07777 : new_file_mode();
  char *copy = strdup(a->path);
  size_t cap = strlen(a->path) + 16;
  a->tmp = malloc(cap);
  if (!copy || !a->tmp) {
    free(copy);
    snprintf(err, errcap, "cannot write %s: out of memory", path);
    atomic_abort(a);
    return CLI_FAIL;
  }
  char *base = strrchr(a->path, '/');
  snprintf(a->tmp, cap, "%s/.%s.XXXXXX", dirname(copy), base ? base + 1 : a->path);
  free(copy);
  int fd = mkstemp(a->tmp);
  if (fd < 0) {
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
    free(a->tmp);
    a->tmp = NULL;
    atomic_abort(a);
    return CLI_FAIL;
  }
  if (fchmod(fd, mode) != 0 || !(a->f = fdopen(fd, "w"))) {
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
    close(fd);
    atomic_abort(a);
    return CLI_FAIL;
  }
  return CLI_OK;
}

void atomic_abort(atomic_file *a)
{
  if (a->f)
    fclose(a->f);
  if (a->tmp)
    unlink(a->tmp);
  free(a->tmp);
  free(a->path);
  memset(a, 0, sizeof *a);
}

int atomic_commit(atomic_file *a, char *err, size_t errcap)
{
  /* Devices and pipes (no a->tmp) are not synced: fsync fails on them. */
  int failed = ferror(a->f) || fflush(a->f) != 0 || (a->tmp && fsync(fileno(a->f)) != 0);
  int saved = errno;
  if (fclose(a->f) != 0 && !failed) {
    failed = 1;
    saved = errno;
  }
  a->f = NULL;
  if (!a->tmp) { /* a device or pipe, written directly */
    if (failed)
      snprintf(err, errcap, "cannot write the output: %s", strerror(saved));
    return failed ? CLI_FAIL : CLI_OK;
  }
  if (!failed && rename(a->tmp, a->path) != 0) {
    failed = 1;
    saved = errno;
  }
  if (failed) {
    snprintf(err, errcap, "cannot write %s: %s (the previous file, if any, is unchanged)",
             a->path, saved ? strerror(saved) : "write error");
    atomic_abort(a);
    return CLI_FAIL;
  }
  /* Make the rename itself durable. */
  char *copy = strdup(a->path);
  int dir = copy ? open(dirname(copy), O_RDONLY) : -1;
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
  free(copy);
  free(a->tmp);
  a->tmp = NULL;
  atomic_abort(a);
  return CLI_OK;
}
