/* Saving during training: checkpoints, the save on Ctrl-C, and checking
 * before training that the files can be written at all (an hour of
 * training lost to a typo in --output is the failure this prevents). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

int cli_check_writable(const char *option, const char *path)
{
  struct stat st;
  if (!*path)
    return cli_error(CLI_USAGE, "%s: empty path", option);
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return cli_error(CLI_FAIL, "%s: %s is a directory", option, path);
  /* Creating a file beside it is the one test that cannot be fooled by
   * permissions, read-only mounts or root's privileges. */
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
  char *probe = malloc(dirlen + 32);
  if (!probe)
    return cli_error(CLI_FAIL, "out of memory");
  memcpy(probe, path, dirlen);
  strcpy(probe + dirlen, ".bn-write-test-XXXXXX");
  int fd = mkstemp(probe);
  if (fd < 0) {
    int err = errno;
    cli_error(CLI_FAIL, "%s: cannot write %s: %s", option, path, strerror(err));
    free(probe);
    return CLI_FAIL;
  }
  close(fd);
  unlink(probe);
  free(probe);
  return CLI_OK;
}

int checkpoint_save(bn_mlp *m, const train_record *r, const char *path)
{
  /* The optimizer state and the record go in so that the file can continue the run. */
  if (train_record_store(m, r) != CLI_OK)
    return CLI_FAIL;
  bn_status st = bn_mlp_save(m, path, BN_MLP_SAVE_OPTIMIZER);
  if (st != BN_OK)
    return cli_error(CLI_FAIL, "cannot save the model to %s: %s", path, bn_mlp_last_error(m));
  return CLI_OK;
}
