/* The --wrap targets of libbn_failio (see failing_io.h). */
#define _GNU_SOURCE
#include "failing_io.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

ssize_t __real_write(int fd, const void *p, size_t n);
int __real_fsync(int fd);
int __real_rename(const char *from, const char *to);
ssize_t __wrap_write(int fd, const void *p, size_t n);
int __wrap_fsync(int fd);
int __wrap_rename(const char *from, const char *to);

/* One test thread drives the library at a time: plain variables suffice. */
static bnt_io_fault armed;
static int countdown, fired, after_short;

void bnt_io_arm(bnt_io_fault fault, int n)
{
  armed = fault;
  countdown = n;
  fired = 0;
  after_short = 0;
}

int bnt_io_fired(void)
{
  return fired;
}

/* Nonzero when this call (of kind) is the one to misbehave. */
static int this_one(bnt_io_fault kind)
{
  if (armed != kind || fired || --countdown > 0)
    return 0;
  fired = 1;
  return 1;
}

ssize_t __wrap_write(int fd, const void *p, size_t n)
{
  if (after_short) {
    errno = ENOSPC;
    return -1;
  }
  if (this_one(BNT_IO_WRITE_ERROR)) {
    errno = EIO;
    return -1;
  }
  if (n > 1 && this_one(BNT_IO_SHORT_WRITE)) {
    after_short = 1;
    return __real_write(fd, p, n / 2);
  }
  return __real_write(fd, p, n);
}

int __wrap_fsync(int fd)
{
  if (this_one(BNT_IO_FSYNC_ERROR)) {
    errno = EIO;
    return -1;
  }
  return __real_fsync(fd);
}

int __wrap_rename(const char *from, const char *to)
{
  if (this_one(BNT_IO_RENAME_ERROR)) {
    errno = EIO;
    return -1;
  }
  return __real_rename(from, to);
}
