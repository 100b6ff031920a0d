#ifndef BN_FAILING_IO_H
#define BN_FAILING_IO_H

/* Write-failure injection for a test copy of libbn (libbn_failio,
 * tests/reliability.cmake), linked with -Wl,--wrap=write,fsync,rename so
 * that those calls made by libbn's own code go through failing_io.c; no
 * call site in src/ knows about it and the release library is unchanged. */

#if defined(__GNUC__)
#define BNT_IO_API __attribute__((visibility("default")))
#else
#define BNT_IO_API
#endif

typedef enum bnt_io_fault {
  BNT_IO_NONE = 0,
  BNT_IO_WRITE_ERROR,   /* the n-th write() fails with EIO, nothing written */
  BNT_IO_SHORT_WRITE,   /* the n-th write() writes half its bytes; the next fails with ENOSPC */
  BNT_IO_FSYNC_ERROR,   /* the n-th fsync() fails with EIO */
  BNT_IO_RENAME_ERROR   /* the n-th rename() fails with EIO */
} bnt_io_fault;

/* Make the n-th (1-based) call of the fault's kind misbehave; BNT_IO_NONE disarms. */
BNT_IO_API void bnt_io_arm(bnt_io_fault fault, int n);

/* Whether the armed fault happened since bnt_io_arm. */
BNT_IO_API int bnt_io_fired(void);

#endif
