#ifndef BNI_ACTIVATION_MATH_H
#define BNI_ACTIVATION_MATH_H

/* The element-wise activations, forward (transcendentals in double, rounded
 * once) and backward from their output y: dx = act'(y)*dy, the derivative
 * in double and the product rounded once to float. One definition serves
 * the activation kernels (activations.c) and the BatchNorm loops that fold
 * them into their passes (batchnorm_loops.inc), so both give the same bits
 * on every instruction set. The backward's selects are integer masks, which
 * compilers if-convert (and so vectorize) even inside the loops' double
 * reductions. */

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ReLU; NaN propagates. */
static inline float bni_relu(float x)
{
  return x > 0.0f || x != x ? x : 0.0f;
}

static inline float bni_elu(float x, double alpha)
{
  return x > 0.0f || x != x ? x : (float)(alpha * expm1((double)x));
}

static inline float bni_sigmoid(float x)
{
  /* exp of a non-positive argument only: never overflows. */
  double z = (double)x;
  if (z >= 0.0)
    return (float)(1.0 / (1.0 + exp(-z)));
  double e = exp(z);
  return (float)(e / (1.0 + e));
}

static inline float bni_tanh(float x)
{
  return (float)tanh((double)x);
}

/* keep ? a : b, bit for bit, without a branch. */
static inline float bni_select_float(int keep, float a, float b)
{
  uint32_t ua, ub, k = (uint32_t)0 - (uint32_t)(keep != 0);
  memcpy(&ua, &a, sizeof ua);
  memcpy(&ub, &b, sizeof ub);
  ua = (ua & k) | (ub & ~k);
  float r;
  memcpy(&r, &ua, sizeof r);
  return r;
}

/* ReLU: dy where y > 0, y itself where y is NaN (it propagates), else +0. */
static inline float bni_relu_grad(float y, float dy)
{
  return bni_select_float(y > 0.0f, dy, bni_select_float(y != y, y, 0.0f));
}

/* ELU: d/dx alpha*(e^x - 1) = alpha*e^x = y + alpha where y <= 0. */
static inline float bni_elu_grad(float y, float dy, double alpha)
{
  return bni_select_float(y > 0.0f, dy, (float)((double)dy * ((double)y + alpha)));
}

static inline float bni_sigmoid_grad(float y, float dy)
{
  const double s = (double)y;
  return (float)((double)dy * (s * (1.0 - s)));
}

static inline float bni_tanh_grad(float y, float dy)
{
  const double t = (double)y;
  return (float)((double)dy * (1.0 - t * t));
}

#endif
