/* The training record `bn train` stores in its model files: the recipe of
 * the run (what a resumed run needs to go on as the uninterrupted run would,
 * and what `bn info` shows) and how far it got. The text format,
 * "bn-train-record v1" then key=value lines, is documented in
 * docs/model-format.md; the library stores it verbatim. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char RECORD_MAGIC[] = "bn-train-record v1\n";

/* The string-valued keys, in the order they are written. */
static const char *const TEXT_KEYS[TRAIN_RECORD_TEXTS] = {
    "schedule", "data",  "train", "train_labels", "test",      "test_labels",
    "label",    "header", "limit", "validation_split", "init", "head_init"};

const char *train_record_key(int which)
{
  return TEXT_KEYS[which];
}

int train_record_format(const train_record *r, char *out, size_t cap)
{
  size_t len = 0;
  int n = snprintf(out, cap,
                   "%slr=%.17g\nepochs=%zu\nbatch_size=%zu\nseed=%" PRIu64
                   "\nrecompute_stats=%d\nsave_optimizer=%d\nepochs_done=%zu\npartial_epoch=%d\n"
                   "shuffle_rng=%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 "\n",
                   RECORD_MAGIC, r->lr, r->epochs, r->batch_size, r->seed, r->recompute_stats,
                   r->save_optimizer, r->epochs_done, r->partial_epoch, r->shuffle.state[0],
                   r->shuffle.state[1], r->shuffle.state[2], r->shuffle.state[3]);
  if (n < 0 || (size_t)n >= cap)
    return CLI_FAIL;
  len = (size_t)n;
  for (int i = 0; i < TRAIN_RECORD_TEXTS; i++) {
    const char *v = r->text[i];
    if (!v)
      continue;
    if (strchr(v, '\n'))
      return cli_error(CLI_FAIL, "the %s '%s' has a line break, which the training record "
                       "cannot keep", TEXT_KEYS[i], v);
    n = snprintf(out + len, cap - len, "%s=%s\n", TEXT_KEYS[i], v);
    if (n < 0 || (size_t)n >= cap - len)
      return cli_error(CLI_FAIL, "the training record is longer than %zu bytes", cap);
    len += (size_t)n;
  }
  return CLI_OK;
}

int train_record_store(bn_mlp *m, const train_record *r)
{
  char *buf = malloc(TRAIN_RECORD_MAX);
  if (!buf)
    return cli_error(CLI_FAIL, "out of memory");
  int rc = train_record_format(r, buf, TRAIN_RECORD_MAX);
  if (rc == CLI_OK && bn_mlp_set_training_record(m, buf, strlen(buf)) != BN_OK)
    rc = cli_error(CLI_FAIL, "cannot store the training record: %s", bn_mlp_last_error(m));
  free(buf);
  return rc;
}

void train_record_free(train_record *r)
{
  free(r->storage);
  r->storage = NULL;
}

/* Parse "key=value" number fields; returns 0 when value is not one. */
static int parse_u64(const char *v, uint64_t *out)
{
  char *end;
  if (!*v || *v == '-' || *v == '+')
    return 0;
  *out = strtoull(v, &end, 10);
  return *end == '\0';
}

int train_record_parse(const char *bytes, size_t size, train_record *r, char *why, size_t cap)
{
  memset(r, 0, sizeof *r);
  size_t magic = sizeof RECORD_MAGIC - 1;
  if (size < magic || memcmp(bytes, RECORD_MAGIC, magic) != 0) {
    snprintf(why, cap, "it does not start with \"bn-train-record v1\"");
    return CLI_FAIL;
  }
  if (memchr(bytes, '\0', size) || bytes[size - 1] != '\n') {
    snprintf(why, cap, "it is not text ending in a line break");
    return CLI_FAIL;
  }
  r->storage = malloc(size + 1);
  if (!r->storage) {
    snprintf(why, cap, "out of memory");
    return CLI_FAIL;
  }
  memcpy(r->storage, bytes, size);
  r->storage[size] = '\0';
  enum { LR = 1, EPOCHS = 2, BATCH = 4, SEED = 8, DONE = 16, RNG = 32, ALL = 63 };
  unsigned seen = 0;
  char *line = r->storage + magic;
  while (*line) {
    char *nl = strchr(line, '\n'), *eq = strchr(line, '=');
    *nl = '\0';
    if (!eq || eq > nl) {
      snprintf(why, cap, "the line \"%.60s\" is not key=value", line);
      goto bad;
    }
    *eq = '\0';
    const char *key = line, *v = eq + 1;
    uint64_t u = 0;
    char *end = NULL;
    int good = 1, known = 1;
    if (strcmp(key, "lr") == 0) {
      r->lr = strtod(v, &end);
      good = *v && !*end && r->lr > 0 && r->lr <= 1e3;
      seen |= LR;
    } else if (strcmp(key, "epochs") == 0) {
      good = parse_u64(v, &u) && u >= 1 && u <= 100000;
      r->epochs = (size_t)u;
      seen |= EPOCHS;
    } else if (strcmp(key, "batch_size") == 0) {
      good = parse_u64(v, &u) && u >= 2 && u <= (1u << 20);
      r->batch_size = (size_t)u;
      seen |= BATCH;
    } else if (strcmp(key, "seed") == 0) {
      good = parse_u64(v, &r->seed);
      seen |= SEED;
    } else if (strcmp(key, "epochs_done") == 0) {
      good = parse_u64(v, &u) && u <= 100000;
      r->epochs_done = (size_t)u;
      seen |= DONE;
    } else if (strcmp(key, "recompute_stats") == 0 || strcmp(key, "save_optimizer") == 0 ||
               strcmp(key, "partial_epoch") == 0) {
      good = parse_u64(v, &u) && u <= 1;
      *(key[0] == 'r' ? &r->recompute_stats : key[0] == 's' ? &r->save_optimizer
                                                             : &r->partial_epoch) = (int)u;
    } else if (strcmp(key, "shuffle_rng") == 0) {
      int used = 0;
      good = sscanf(v, "%16" SCNx64 ",%16" SCNx64 ",%16" SCNx64 ",%16" SCNx64 "%n",
                    &r->shuffle.state[0], &r->shuffle.state[1], &r->shuffle.state[2],
                    &r->shuffle.state[3], &used) == 4 && v[used] == '\0' &&
             (r->shuffle.state[0] | r->shuffle.state[1] | r->shuffle.state[2] |
              r->shuffle.state[3]) != 0;
      seen |= RNG;
    } else {
      known = 0;
      for (int i = 0; i < TRAIN_RECORD_TEXTS; i++)
        if (strcmp(key, TEXT_KEYS[i]) == 0) {
          r->text[i] = v;
          known = 1;
        }
    }
    if (!known) { /* a later version's key: v1 readers stop rather than guess */
      snprintf(why, cap, "unknown key \"%.40s\"", key);
      goto bad;
    }
    if (!good) {
      snprintf(why, cap, "bad value \"%.40s\" of %s", v, key);
      goto bad;
    }
    line = nl + 1;
  }
  if (seen != ALL) {
    snprintf(why, cap, "a required key (lr, epochs, batch_size, seed, epochs_done, "
             "shuffle_rng) is missing");
    goto bad;
  }
  if (r->epochs_done > r->epochs) {
    snprintf(why, cap, "epochs_done %zu exceeds epochs %zu", r->epochs_done, r->epochs);
    goto bad;
  }
  return CLI_OK;
bad:
  train_record_free(r);
  return CLI_FAIL;
}

int train_record_load(const bn_mlp *m, train_record *r, char *why, size_t cap)
{
  size_t size = 0;
  memset(r, 0, sizeof *r);
  if (bn_mlp_training_record_size(m, &size) != BN_OK || size == 0) {
    snprintf(why, cap, "it has no training record");
    return CLI_FAIL;
  }
  char *buf = malloc(size);
  if (!buf) {
    snprintf(why, cap, "out of memory");
    return CLI_FAIL;
  }
  size_t got = 0;
  int rc = CLI_FAIL;
  if (bn_mlp_get_training_record(m, buf, size, &got) != BN_OK)
    snprintf(why, cap, "its training record cannot be read");
  else
    rc = train_record_parse(buf, got, r, why, cap);
  free(buf);
  return rc;
}
