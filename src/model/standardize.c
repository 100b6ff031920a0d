/* The standardizer stage (BN_MLP_STANDARDIZE): fitting it from data and
 * handing it out for reading. Its transform runs first in the forward pass
 * (forward.c), it folds into the first dense layer (fold.c), and the model
 * file stores its serialized state (layout.c). */
#include "mlp_internal.h"

static bn_status stage_of(bn_mlp *m)
{
  if (!m->standardizer)
    return bni_fail(&m->err, BN_ERR_WRONG_STATE,
                    "the network has no standardizer stage (create it with BN_MLP_STANDARDIZE)");
  return BN_OK;
}

bn_status bni_mlp_check_standardizer(bn_mlp *m)
{
  uint64_t count = 1;
  if (m->standardizer)
    (void)bn_standardizer_count(m->standardizer, &count);
  if (count == 0)
    return bni_fail(&m->err, BN_ERR_WRONG_STATE,
                    "the standardizer stage is not fitted: call bn_mlp_fit_standardizer() "
                    "(or bn_mlp_fit(), which fits it) first");
  return BN_OK;
}

typedef bn_status (*fit_fn)(bn_standardizer *, size_t, const float *, size_t);

static bn_status fit(bn_mlp *mlp, fit_fn how, size_t samples, const float *x, size_t ldx)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_status st = stage_of(mlp);
  if (st == BN_OK && (st = how(mlp->standardizer, samples, x, ldx)) != BN_OK)
    return bni_fail(&mlp->err, st, "standardizer: %s", bn_standardizer_last_error(mlp->standardizer));
  return st;
}

bn_status bn_mlp_fit_standardizer(bn_mlp *mlp, size_t samples, const float *x, size_t ldx)
{
  return fit(mlp, bn_standardizer_fit, samples, x, ldx);
}

bn_status bn_mlp_partial_fit_standardizer(bn_mlp *mlp, size_t samples, const float *x,
                                          size_t ldx)
{
  return fit(mlp, bn_standardizer_partial_fit, samples, x, ldx);
}

bn_status bn_mlp_standardizer(const bn_mlp *mlp, const bn_standardizer **standardizer)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = (bn_mlp *)(uintptr_t)mlp; /* error text only */
  if (!standardizer)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "standardizer is NULL");
  *standardizer = m->standardizer;
  return stage_of(m);
}
