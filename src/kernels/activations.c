/* Stateless activations, forward and backward, over the (features x batch)
 * layout. Transcendentals in double, rounded once; softmax per column with
 * the column's maximum subtracted and the normalizer summed in double. */
#include <math.h>
#include <string.h>
#include <bn/activations.h>
#include "../core/checks.h"
#include "activation_math.h"

static bn_status check_act(bn_activation act, float alpha)
{
  switch (act) {
  case BN_ACT_IDENTITY:
  case BN_ACT_RELU:
  case BN_ACT_SIGMOID:
  case BN_ACT_TANH:
  case BN_ACT_SOFTMAX:
    return BN_OK;
  case BN_ACT_ELU:
    return isfinite(alpha) && alpha > 0.0f ? BN_OK : BN_ERR_INVALID_ARGUMENT;
  }
  return BN_ERR_INVALID_ARGUMENT;
}

static void softmax_column(size_t F, const float *x, float *y)
{
  float m = x[0];
  for (size_t f = 1; f < F; f++)
    if (x[f] > m || x[f] != x[f])
      m = x[f];
  if (m != m || isinf(m)) { /* NaN, or +inf (inf - inf) / -inf everywhere */
    for (size_t f = 0; f < F; f++)
      y[f] = NAN;
    return;
  }
  double sum = 0.0;
  for (size_t f = 0; f < F; f++)
    sum += exp((double)x[f] - (double)m);
  /* x may be y: each element is read before it is written. */
  for (size_t f = 0; f < F; f++)
    y[f] = (float)(exp((double)x[f] - (double)m) / sum);
}

bn_status bn_activation_forward(bn_activation act, float alpha, size_t features, size_t batch,
                                const float *x, size_t ldx, float *y, size_t ldy)
{
  bn_status st = check_act(act, alpha);
  if (st == BN_OK)
    st = bni_check_matrix(NULL, "x", x, features, batch, ldx);
  if (st == BN_OK)
    st = bni_check_matrix(NULL, "y", y, features, batch, ldy);
  if (st == BN_OK)
    st = bni_check_alias(NULL, "x", x, ldx, "y", y, ldy, features, batch);
  if (st != BN_OK)
    return st;
  const size_t F = features;
  for (size_t j = 0; j < batch; j++) {
    const float *xj = x + j * ldx;
    float *yj = y + j * ldy;
    switch (act) {
    case BN_ACT_IDENTITY:
      if (xj != yj)
        memcpy(yj, xj, F * sizeof *yj);
      break;
    case BN_ACT_RELU:
      for (size_t f = 0; f < F; f++)
        yj[f] = bni_relu(xj[f]);
      break;
    case BN_ACT_ELU:
      for (size_t f = 0; f < F; f++)
        yj[f] = bni_elu(xj[f], (double)alpha);
      break;
    case BN_ACT_SIGMOID:
      for (size_t f = 0; f < F; f++)
        yj[f] = bni_sigmoid(xj[f]);
      break;
    case BN_ACT_TANH:
      for (size_t f = 0; f < F; f++)
        yj[f] = bni_tanh(xj[f]);
      break;
    case BN_ACT_SOFTMAX:
      softmax_column(F, xj, yj);
      break;
    }
  }
  return BN_OK;
}

bn_status bn_activation_backward(bn_activation act, float alpha, size_t features, size_t batch,
                                 const float *y, size_t ldy, const float *dy, size_t lddy,
                                 float *dx, size_t lddx)
{
  bn_status st = check_act(act, alpha);
  if (st == BN_OK)
    st = bni_check_matrix(NULL, "y", y, features, batch, ldy);
  if (st == BN_OK)
    st = bni_check_matrix(NULL, "dy", dy, features, batch, lddy);
  if (st == BN_OK)
    st = bni_check_matrix(NULL, "dx", dx, features, batch, lddx);
  if (st == BN_OK)
    st = bni_check_alias(NULL, "y", y, ldy, "dx", dx, lddx, features, batch);
  if (st == BN_OK)
    st = bni_check_alias(NULL, "dy", dy, lddy, "dx", dx, lddx, features, batch);
  if (st != BN_OK)
    return st;
  const size_t F = features;
  const double a = (double)alpha;
  for (size_t j = 0; j < batch; j++) {
    const float *yj = y + j * ldy;
    const float *dyj = dy + j * lddy;
    float *dxj = dx + j * lddx;
    switch (act) {
    case BN_ACT_IDENTITY:
      if (dxj != dyj)
        memcpy(dxj, dyj, F * sizeof *dxj);
      break;
    case BN_ACT_RELU:
      for (size_t f = 0; f < F; f++)
        dxj[f] = bni_relu_grad(yj[f], dyj[f]);
      break;
    case BN_ACT_ELU:
      for (size_t f = 0; f < F; f++)
        dxj[f] = bni_elu_grad(yj[f], dyj[f], a);
      break;
    case BN_ACT_SIGMOID:
      for (size_t f = 0; f < F; f++)
        dxj[f] = bni_sigmoid_grad(yj[f], dyj[f]);
      break;
    case BN_ACT_TANH:
      for (size_t f = 0; f < F; f++)
        dxj[f] = bni_tanh_grad(yj[f], dyj[f]);
      break;
    case BN_ACT_SOFTMAX: {
      double dot = 0.0;
      for (size_t f = 0; f < F; f++)
        dot += (double)yj[f] * (double)dyj[f];
      for (size_t f = 0; f < F; f++)
        dxj[f] = (float)((double)yj[f] * ((double)dyj[f] - dot));
      break;
    }
    }
  }
  return BN_OK;
}
