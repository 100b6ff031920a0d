#ifndef BN_MPI_H
#define BN_MPI_H

/** @file bn/bn_mpi.h
 *  @brief libbn_mpi: data-parallel MLP training over an MPI communicator.
 *
 *  A separate library (libbn_mpi.so, pkg-config bn_mpi, CMake target
 *  bn::bn_mpi), built when CMake finds MPI; the core libbn never links MPI.
 *  It supplies the collectives of bn_mlp_set_reducer() (bn/mlp.h) over a
 *  communicator: after bn_mpi_attach(), bn_mlp_train_step(), bn_mlp_fit()
 *  and bn_mlp_evaluate() on every rank of the communicator train and
 *  evaluate one network on the union of the ranks' shards (see
 *  docs/distributed.md for what is reduced when, and its cost).
 *
 *  Every reduce is an MPI_Reduce to rank 0 followed by an MPI_Bcast, so
 *  every rank receives bit-identical results and the ranks' parameters never
 *  drift apart; the BatchNorm moments use a non-commutative MPI_Op that
 *  merges (count, mean, M2) in rank order. The communicator is duplicated,
 *  with MPI_ERRORS_RETURN, so libbn's messages never mix with the caller's
 *  and an MPI failure is returned as BN_ERR_IO rather than aborting.
 *
 *  @par Thread-safety
 *  An attachment belongs to its MLP: one thread at a time, and MPI must be
 *  initialized with at least MPI_THREAD_FUNNELED if threads are used. */

#include <stddef.h>
#include <mpi.h>
#include <bn/mlp.h>

#if defined(__GNUC__) || defined(__clang__)
/** Marks a function as part of libbn_mpi's exported ABI. */
#define BN_MPI_API __attribute__((visibility("default")))
#else
/** Marks a function as part of libbn_mpi's exported ABI. */
#define BN_MPI_API
#endif

BN_EXTERN_C_BEGIN

/** An MLP attached to a communicator (opaque). */
typedef struct bn_mpi bn_mpi;

/** @brief Make `mlp` one rank of a data-parallel training over `comm`.
 *
 *  Collective: every rank of comm calls it with an MLP of the same
 *  architecture. It checks the architectures agree (BN_ERR_SHAPE_MISMATCH
 *  on every rank otherwise), installs the reducer, then gives every rank
 *  rank 0's whole state: parameters, running statistics and BatchNorm
 *  counters, tunables (learning rate, optimizer, BatchNorm eps and update
 *  factor, renorm limits...), the optimizer's moments and step (rank 0's
 *  model bytes with the optimizer, taken with bn_mlp_deserialize_into()).
 *  So the ranks start identical whatever each was given; a resumed or
 *  retuned run needs the right model on rank 0 only. When any rank fails,
 *  every rank returns an error.
 *
 *  @param out       receives the attachment; NULL on error.
 *  @param mlp       the network; it must outlive the attachment.
 *  @param comm      the communicator (duplicated; the caller keeps theirs).
 *  @param message   optional buffer for a message on error (NUL-terminated), or NULL.
 *  @param capacity  its size in bytes.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL out or mlp, MPI not
 *          initialized); BN_ERR_OUT_OF_MEMORY; BN_ERR_SHAPE_MISMATCH (the
 *          ranks' networks differ); BN_ERR_IO (an MPI call failed, or
 *          another rank failed). On error the MLP trains alone as before.
 *  @par Thread-safety
 *  One thread at a time per MLP. */
BN_MPI_API bn_status bn_mpi_attach(bn_mpi **out, bn_mlp *mlp, MPI_Comm comm, char *message,
                                   size_t capacity);

/** @brief This attachment's rank and the communicator's size.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when an argument is NULL.
 *  @par Thread-safety
 *  Reads only; safe alongside other reads. */
BN_MPI_API bn_status bn_mpi_rank(const bn_mpi *attachment, int *rank, int *size);

/** @brief Detach: the MLP trains alone again; frees the duplicated
 *  communicator. Collective over the communicator (MPI_Comm_free). NULL is a
 *  no-op.
 *  @par Thread-safety
 *  One thread at a time per MLP. */
BN_MPI_API void bn_mpi_detach(bn_mpi *attachment);

BN_EXTERN_C_END

#endif /* BN_MPI_H */
