/* libbn_mpi: bn_mlp_set_reducer's collectives over MPI. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bn/batchnorm_kernels.h>
#include "bn_mpi.h"

struct bn_mpi {
  bn_mlp *mlp;
  MPI_Comm comm;
  MPI_Op merge_moments;
  int rank, size;
};

/* inout = in (lower ranks) merged with inout (higher ranks), each a block
 * [count, mean[F], m2[F]] of the contiguous type `type`. Feature by feature
 * through stack copies of in's values, so nothing is allocated and in is
 * left alone. A failed merge (non-finite values from a failing rank) leaves
 * NaN, which every rank then reports. MPI_Op functions cannot return an
 * error. */
static void merge_blocks(void *in, void *inout, int *len, MPI_Datatype *type)
{
  int bytes = 0;
  MPI_Type_size(*type, &bytes);
  const size_t n = (size_t)bytes / sizeof(double), F = (n - 1) / 2;
  const double *a = in;
  double *b = inout;
  for (int k = 0; k < *len; k++, a += n, b += n) {
    int ok = 1;
    for (size_t f = 0; ok && f < F; f++) {
      double mean = a[1 + f], m2 = a[1 + F + f];
      ok = bn_moments_merge(1, a[0], &mean, &m2, b[0], b + 1 + f, b + 1 + F + f) == BN_OK;
      b[1 + f] = mean;
      b[1 + F + f] = m2;
    }
    b[0] = ok ? a[0] + b[0] : NAN;
  }
}

/* Reduce to rank 0, then broadcast: every rank gets the same bits. */
static bn_status mpi_reduce(void *context, bn_reduce_op op, double *data, size_t count)
{
  bn_mpi *h = context;
  if (count > (size_t)INT32_MAX)
    return BN_ERR_SIZE_OVERFLOW;
  int rc;
  if (op == BN_REDUCE_SUM) {
    rc = MPI_Reduce(h->rank == 0 ? MPI_IN_PLACE : data, h->rank == 0 ? data : NULL, (int)count,
                    MPI_DOUBLE, MPI_SUM, 0, h->comm);
    if (rc == MPI_SUCCESS)
      rc = MPI_Bcast(data, (int)count, MPI_DOUBLE, 0, h->comm);
  } else {
    MPI_Datatype block;
    rc = MPI_Type_contiguous((int)count, MPI_DOUBLE, &block);
    if (rc != MPI_SUCCESS)
      return BN_ERR_IO;
    MPI_Type_commit(&block);
    rc = MPI_Reduce(h->rank == 0 ? MPI_IN_PLACE : data, h->rank == 0 ? data : NULL, 1, block,
                    h->merge_moments, 0, h->comm);
    if (rc == MPI_SUCCESS)
      rc = MPI_Bcast(data, (int)count, MPI_DOUBLE, 0, h->comm);
    MPI_Type_free(&block);
  }
  return rc == MPI_SUCCESS ? BN_OK : BN_ERR_IO;
}

static bn_status say(char *message, size_t capacity, bn_status st, const char *format, ...)
{
  if (message && capacity > 0) {
    va_list ap;
    va_start(ap, format);
    vsnprintf(message, capacity, format, ap);
    va_end(ap);
  }
  return st;
}

/* Does every rank pass ok != 0? (An MPI failure counts as no.) */
static int all_ranks(bn_mpi *h, int ok)
{
  int all = 0;
  return MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, h->comm) == MPI_SUCCESS && all;
}

/* Rank 0's model bytes, with the optimizer state (NULL and *size 0 on failure,
 * the reason in *status). */
static unsigned char *rank0_bytes(bn_mpi *h, uint64_t *size, bn_status *status, char *message,
                                  size_t capacity)
{
  size_t n = 0;
  unsigned char *bytes = NULL;
  bn_status st = bn_mlp_serialized_size(h->mlp, BN_MLP_SAVE_OPTIMIZER, &n);
  if (st == BN_OK && n > (size_t)INT32_MAX)
    st = BN_ERR_SIZE_OVERFLOW;
  if (st == BN_OK && !(bytes = malloc(n)))
    st = BN_ERR_OUT_OF_MEMORY;
  if (st == BN_OK)
    st = bn_mlp_serialize(h->mlp, BN_MLP_SAVE_OPTIMIZER, bytes, n, NULL);
  *status = st;
  if (st != BN_OK) {
    say(message, capacity, st, "rank 0 cannot serialize its model: %s (%s)",
        bn_status_string(st), bn_mlp_last_error(h->mlp));
    free(bytes);
    *size = 0;
    return NULL;
  }
  *size = n;
  return bytes;
}

/* Rank 0's whole state to every rank: parameters, running statistics and
 * BatchNorm counters, tunables and optimizer state (its model bytes with
 * the optimizer, bn_mlp_deserialize_into), so the ranks start identical
 * whatever each was given. Every rank learns whether every rank succeeded. */
static bn_status broadcast_model(bn_mpi *h, char *message, size_t capacity)
{
  /* [size, status]: every rank fails with rank 0's reason when it has no bytes */
  uint64_t head[2] = {0, BN_ERR_IO};
  bn_status st0 = BN_ERR_IO;
  unsigned char *bytes = h->rank == 0 ? rank0_bytes(h, &head[0], &st0, message, capacity) : NULL;
  head[1] = (uint64_t)st0;
  if (MPI_Bcast(head, 2, MPI_UINT64_T, 0, h->comm) != MPI_SUCCESS)
    head[0] = 0;
  const uint64_t size = head[0];
  if (size == 0) {
    free(bytes);
    const bn_status reason = (bn_status)head[1] == BN_OK ? BN_ERR_IO : (bn_status)head[1];
    return h->rank == 0 ? reason : say(message, capacity, reason, "rank 0 could not send its model: %s",
                                       bn_status_string(reason));
  }
  if (h->rank != 0)
    bytes = malloc((size_t)size);
  if (!all_ranks(h, bytes != NULL)) {
    free(bytes);
    return say(message, capacity, BN_ERR_OUT_OF_MEMORY,
               "no memory for rank 0's model of %llu bytes on %s", (unsigned long long)size,
               bytes ? "another rank" : "this rank");
  }
  bn_status st = MPI_Bcast(bytes, (int)size, MPI_BYTE, 0, h->comm) == MPI_SUCCESS ? BN_OK
                                                                                   : BN_ERR_IO;
  if (st == BN_OK && h->rank != 0)
    st = bn_mlp_deserialize_into(h->mlp, bytes, (size_t)size);
  free(bytes);
  if (st != BN_OK)
    say(message, capacity, st, "taking rank 0's model: %s (%s)", bn_status_string(st),
        bn_mlp_last_error(h->mlp));
  if (!all_ranks(h, st == BN_OK) && st == BN_OK)
    st = say(message, capacity, BN_ERR_IO, "another rank could not take rank 0's model");
  return st;
}

bn_status bn_mpi_attach(bn_mpi **out, bn_mlp *mlp, MPI_Comm comm, char *message,
                        size_t capacity)
{
  if (!out)
    return say(message, capacity, BN_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = NULL;
  if (!mlp)
    return say(message, capacity, BN_ERR_INVALID_ARGUMENT, "mlp is NULL");
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized)
    return say(message, capacity, BN_ERR_INVALID_ARGUMENT, "MPI is not initialized");
  bn_mpi *h = calloc(1, sizeof *h);
  if (!h)
    return say(message, capacity, BN_ERR_OUT_OF_MEMORY, "no memory for the attachment");
  h->mlp = mlp;
  if (MPI_Comm_dup(comm, &h->comm) != MPI_SUCCESS) {
    free(h);
    return say(message, capacity, BN_ERR_IO, "MPI_Comm_dup failed");
  }
  MPI_Comm_set_errhandler(h->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(h->comm, &h->rank);
  MPI_Comm_size(h->comm, &h->size);
  MPI_Op_create(merge_blocks, 0 /* not commutative: merged in rank order */, &h->merge_moments);
  bn_status st = bn_mlp_set_reducer(mlp, mpi_reduce, h, (size_t)h->rank, (size_t)h->size);
  if (st != BN_OK)
    say(message, capacity, st, "%s", bn_mlp_last_error(mlp));
  else
    st = broadcast_model(h, message, capacity);
  if (st != BN_OK) {
    bn_mlp_set_reducer(mlp, NULL, NULL, 0, 0);
    MPI_Op_free(&h->merge_moments);
    MPI_Comm_free(&h->comm);
    free(h);
    return st;
  }
  *out = h;
  return BN_OK;
}

bn_status bn_mpi_rank(const bn_mpi *attachment, int *rank, int *size)
{
  if (!attachment || !rank || !size)
    return BN_ERR_INVALID_ARGUMENT;
  *rank = attachment->rank;
  *size = attachment->size;
  return BN_OK;
}

void bn_mpi_detach(bn_mpi *attachment)
{
  if (!attachment)
    return;
  bn_mlp_set_reducer(attachment->mlp, NULL, NULL, 0, 0);
  MPI_Op_free(&attachment->merge_moments);
  MPI_Comm_free(&attachment->comm);
  free(attachment);
}
