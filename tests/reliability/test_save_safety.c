/* bn_mlp_save never loses the previous file and keeps what the file was:
 *   - a fault at each step (write error, short write then a full disk, the
 *     temporary file's fsync, the rename) leaves the old file byte for byte,
 *     loadable, and no temporary file; a failed fsync of the directory after
 *     the rename leaves the new file whole;
 *   - a SIGKILL at random moments of many saves leaves the old or the new
 *     file, whole, never a mixture;
 *   - the replaced file keeps its permission bits; a new file gets 0666
 *     minus the umask; a symbolic link is written through to its target
 *     (relative, absolute, chained, dangling) and stays a link;
 *   - a target that is not a regular file is refused and left alone.
 * (The file-size limit, RLIMIT_FSIZE with SIGXFSZ ignored and with it
 * killing the process, is tests/c/test_model_file.c's
 * test_failed_save_keeps_old_file.) */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "failing_io.h"
#include "testing.h"

static char dir[256];

static void path_in(char *out, size_t cap, const char *name)
{
  snprintf(out, cap, "%s/%s", dir, name);
}

static int count_files(void)
{
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void remove_all(void)
{
  DIR *d = opendir(dir);
  if (!d)
    return;
  char p[600];
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  closedir(d);
}

static int setup(void **state)
{
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/bn_test_save_safety_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  remove_all();
  rmdir(dir);
  return 0;
}

/* A trained network of the given width (distinct seeds give distinct bytes). */
static bn_mlp *make_net(size_t inputs, size_t width, uint64_t seed)
{
  const size_t hidden[1] = {width};
  bn_mlp *m = NULL;
  bn_rng rng;
  assert_int_equal(bn_mlp_create(&m, inputs, hidden, 1, 3, BN_ACT_RELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, 0),
                   BN_OK);
  assert_int_equal(bn_rng_seed(&rng, seed), BN_OK);
  assert_int_equal(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), BN_OK);
  return m;
}

static unsigned char *serialized(const bn_mlp *m, size_t *size)
{
  assert_int_equal(bn_mlp_serialized_size(m, 0, size), BN_OK);
  unsigned char *b = malloc(*size);
  size_t written;
  assert_non_null(b);
  assert_int_equal(bn_mlp_serialize(m, 0, b, *size, &written), BN_OK);
  return b;
}

/* path holds exactly expected, and loads. */
static void assert_file_holds(const char *path, const unsigned char *expected, size_t size)
{
  size_t now;
  unsigned char *b = test_read_file(path, &now);
  assert_int_equal(now, size);
  assert_memory_equal(b, expected, size);
  free(b);
  char msg[256];
  bn_mlp *r = NULL;
  assert_int_equal(bn_mlp_load(&r, path, msg, sizeof msg), BN_OK);
  bn_mlp_destroy(r);
}

static void test_fault_at_each_step_keeps_old_file(void **state)
{
  (void)state;
  char path[512];
  path_in(path, sizeof path, "model.bnm");
  bn_mlp *old = make_net(4, 5, 1), *new = make_net(30, 400, 2);
  size_t old_size, new_size;
  unsigned char *old_bytes = serialized(old, &old_size), *new_bytes = serialized(new, &new_size);
  static const struct {
    bnt_io_fault fault;
    int n;
    const char *message;
  } faults[] = {
    {BNT_IO_WRITE_ERROR, 1, "cannot write"},   {BNT_IO_SHORT_WRITE, 1, "cannot write"},
    {BNT_IO_FSYNC_ERROR, 1, "cannot write"},   {BNT_IO_RENAME_ERROR, 1, "cannot rename"},
  };
  for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
    assert_int_equal(bn_mlp_save(old, path, 0), BN_OK);
    bnt_io_arm(faults[i].fault, faults[i].n);
    assert_int_equal(bn_mlp_save(new, path, 0), BN_ERR_IO);
    assert_true(bnt_io_fired());
    bnt_io_arm(BNT_IO_NONE, 0);
    assert_non_null(strstr(bn_mlp_last_error(new), faults[i].message));
    assert_file_holds(path, old_bytes, old_size);
    assert_int_equal(count_files(), 1); /* no temporary file left */
  }
  /* The directory's fsync fails after the rename: the new file is in place, whole. */
  bnt_io_arm(BNT_IO_FSYNC_ERROR, 2);
  assert_int_equal(bn_mlp_save(new, path, 0), BN_ERR_IO);
  assert_true(bnt_io_fired());
  bnt_io_arm(BNT_IO_NONE, 0);
  assert_non_null(strstr(bn_mlp_last_error(new), "cannot sync the directory"));
  assert_file_holds(path, new_bytes, new_size);
  assert_int_equal(count_files(), 1);
  free(old_bytes);
  free(new_bytes);
  bn_mlp_destroy(old);
  bn_mlp_destroy(new);
  remove_all();
}

/* A child saves a large model over a small one; it is killed at a random
 * moment. The file is then the old model or the new one, whole. */
static void test_kill_during_save_keeps_a_whole_file(void **state)
{
  (void)state;
  char path[512];
  path_in(path, sizeof path, "killed.bnm");
  bn_mlp *old = make_net(4, 5, 3), *new = make_net(500, 1000, 4);
  size_t old_size, new_size;
  unsigned char *old_bytes = serialized(old, &old_size), *new_bytes = serialized(new, &new_size);
  /* Kill moments spread over one save's duration (only where the kills
   * fall depends on it; what is checked does not). */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(bn_mlp_save(new, path, 0), BN_OK);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double save_ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
  test_rng rng = {2026};
  int saw_old = 0, saw_new = 0;
  for (int round = 0; round < 40; round++) {
    assert_int_equal(bn_mlp_save(old, path, 0), BN_OK);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      bn_mlp_save(new, path, 0);
      _exit(0);
    }
    /* before, during and (sometimes) after the save */
    double ns = test_rng_uniform(&rng) * (3.0 * save_ns + 5e6);
    struct timespec pause = {(time_t)(ns / 1e9), (long)fmod(ns, 1e9)};
    nanosleep(&pause, NULL);
    kill(pid, SIGKILL);
    int wstatus;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    size_t now;
    unsigned char *b = test_read_file(path, &now);
    if (now == old_size && memcmp(b, old_bytes, old_size) == 0)
      saw_old++;
    else if (now == new_size && memcmp(b, new_bytes, new_size) == 0)
      saw_new++;
    else
      fail_msg("round %d: the file is neither the old nor the new model (%zu bytes)", round, now);
    free(b);
    char msg[256];
    bn_mlp *r = NULL;
    assert_int_equal(bn_mlp_load(&r, path, msg, sizeof msg), BN_OK);
    bn_mlp_destroy(r);
    /* a killed save may leave its temporary file: beside the model, never over it */
    remove_all();
  }
  print_message("kills: %d left the old file, %d the new one\n", saw_old, saw_new);
  free(old_bytes);
  free(new_bytes);
  bn_mlp_destroy(old);
  bn_mlp_destroy(new);
}

static mode_t mode_of(const char *path)
{
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  return sb.st_mode & 07777;
}

static void test_mode_kept_or_from_umask(void **state)
{
  (void)state;
  char path[512];
  path_in(path, sizeof path, "mode.bnm");
  bn_mlp *m = make_net(3, 4, 5);
  mode_t saved = umask(077);
  assert_int_equal(bn_mlp_save(m, path, 0), BN_OK);
  assert_int_equal(mode_of(path), 0600); /* new file: 0666 minus the umask */
  unlink(path);
  umask(022);
  assert_int_equal(bn_mlp_save(m, path, 0), BN_OK);
  assert_int_equal(mode_of(path), 0644);
  /* an existing file keeps its bits, whatever the umask */
  static const mode_t kept[] = {0600, 0640, 0604, 0755};
  for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
    umask(i % 2 ? 077 : 0);
    assert_int_equal(chmod(path, kept[i]), 0);
    assert_int_equal(bn_mlp_save(m, path, 0), BN_OK);
    assert_int_equal(mode_of(path), kept[i]);
  }
  umask(saved);
  bn_mlp_destroy(m);
  remove_all();
}

static void test_symlink_written_through(void **state)
{
  (void)state;
  char target[512], rel[512], chain[512], dangling[512], missing[512];
  path_in(target, sizeof target, "target.bnm");
  path_in(rel, sizeof rel, "relative.lnk");
  path_in(chain, sizeof chain, "chain.lnk");
  path_in(dangling, sizeof dangling, "dangling.lnk");
  path_in(missing, sizeof missing, "created.bnm");
  bn_mlp *a = make_net(3, 4, 6), *b = make_net(3, 4, 7), *c = make_net(3, 4, 8);
  size_t sa, sb_, sc;
  unsigned char *ba = serialized(a, &sa), *bb = serialized(b, &sb_), *bc = serialized(c, &sc);
  assert_int_equal(bn_mlp_save(a, target, 0), BN_OK);
  assert_int_equal(chmod(target, 0600), 0);
  assert_int_equal(symlink("target.bnm", rel), 0); /* relative to the link's directory */
  assert_int_equal(symlink(rel, chain), 0);        /* absolute, to another link */
  assert_int_equal(bn_mlp_save(b, chain, 0), BN_OK);
  struct stat st;
  assert_int_equal(lstat(chain, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_equal(lstat(rel, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_file_holds(target, bb, sb_);
  assert_int_equal(mode_of(target), 0600);
  /* a dangling link: its target is created */
  assert_int_equal(symlink("created.bnm", dangling), 0);
  assert_int_equal(bn_mlp_save(c, dangling, 0), BN_OK);
  assert_int_equal(lstat(dangling, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_file_holds(missing, bc, sc);
  /* a loop of links is refused */
  char loop1[512], loop2[512];
  path_in(loop1, sizeof loop1, "loop1.lnk");
  path_in(loop2, sizeof loop2, "loop2.lnk");
  assert_int_equal(symlink("loop2.lnk", loop1), 0);
  assert_int_equal(symlink("loop1.lnk", loop2), 0);
  assert_int_equal(bn_mlp_save(a, loop1, 0), BN_ERR_IO);
  free(ba);
  free(bb);
  free(bc);
  bn_mlp_destroy(a);
  bn_mlp_destroy(b);
  bn_mlp_destroy(c);
  remove_all();
}

static void test_not_a_regular_file_is_refused(void **state)
{
  (void)state;
  char fifo[512];
  path_in(fifo, sizeof fifo, "pipe");
  assert_int_equal(mkfifo(fifo, 0600), 0);
  bn_mlp *m = make_net(3, 4, 9);
  assert_int_equal(bn_mlp_save(m, fifo, 0), BN_ERR_IO);
  assert_non_null(strstr(bn_mlp_last_error(m), "not a regular file"));
  struct stat st;
  assert_int_equal(lstat(fifo, &st), 0);
  assert_true(S_ISFIFO(st.st_mode));
  assert_int_equal(count_files(), 1);
  bn_mlp_destroy(m);
  remove_all();
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fault_at_each_step_keeps_old_file),
    cmocka_unit_test(test_kill_during_save_keeps_a_whole_file),
    cmocka_unit_test(test_mode_kept_or_from_umask),
    cmocka_unit_test(test_symlink_written_through),
    cmocka_unit_test(test_not_a_regular_file_is_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
