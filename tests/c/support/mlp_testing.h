#ifndef BN_MLP_TESTING_H
#define BN_MLP_TESTING_H
/* The small network the MLP tests share: I inputs, one hidden layer of 5
 * (BatchNorm before ReLU), a softmax head of C classes, He-normal weights
 * from `seed`. The includer defines I and C and includes cmocka and
 * bn/bn.h first. Header-only. */

static inline bn_mlp *test_small_mlp(unsigned flags, uint64_t seed)
{
  const size_t hidden[1] = {5};
  bn_mlp *m = NULL;
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, C, BN_ACT_RELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, flags),
                   BN_OK);
  bn_rng rng;
  bn_rng_seed(&rng, seed);
  assert_int_equal(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), BN_OK);
  return m;
}

#endif
