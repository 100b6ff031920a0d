/* The training record: bytes a program stores with the network (its recipe,
 * for resuming), kept verbatim by the model file (format 2). */
#include <stdlib.h>
#include <string.h>
#include "mlp_internal.h"

bn_status bn_mlp_set_training_record(bn_mlp *mlp, const void *bytes, size_t size)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  if (size > BN_MLP_MAX_TRAINING_RECORD)
    return bni_fail(&mlp->err, BN_ERR_INVALID_ARGUMENT,
                    "a training record of %zu bytes is above the limit of %u", size,
                    (unsigned)BN_MLP_MAX_TRAINING_RECORD);
  if (size && !bytes)
    return bni_fail(&mlp->err, BN_ERR_INVALID_ARGUMENT, "bytes is NULL");
  unsigned char *copy = NULL;
  if (size && !(copy = malloc(size)))
    return bni_fail(&mlp->err, BN_ERR_OUT_OF_MEMORY, "no memory for %zu bytes", size);
  if (size)
    memcpy(copy, bytes, size);
  free(mlp->record);
  mlp->record = copy;
  mlp->record_size = size;
  return BN_OK;
}

bn_status bn_mlp_training_record_size(const bn_mlp *mlp, size_t *size)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  if (!size)
    return bni_fail((bni_error *)(uintptr_t)&mlp->err, BN_ERR_INVALID_ARGUMENT, "size is NULL");
  *size = mlp->record_size;
  return BN_OK;
}

bn_status bn_mlp_get_training_record(const bn_mlp *mlp, void *buffer, size_t capacity,
                                     size_t *written)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bni_error *err = (bni_error *)(uintptr_t)&mlp->err; /* error text only */
  if (!buffer && capacity)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  if (capacity < mlp->record_size)
    return bni_fail(err, BN_ERR_BAD_SIZE, "buffer of %zu bytes, the record has %zu", capacity,
                    mlp->record_size);
  if (mlp->record_size)
    memcpy(buffer, mlp->record, mlp->record_size);
  if (written)
    *written = mlp->record_size;
  return BN_OK;
}
