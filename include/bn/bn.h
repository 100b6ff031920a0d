#ifndef BN_BN_H
#define BN_BN_H

/** @file bn/bn.h
 *  @brief Umbrella header: the whole libbn API.
 *
 *  Link with `pkg-config --cflags --libs bn` or CMake's `bn::bn`. */

#include <bn/version.h>
#include <bn/status.h>
#include <bn/batchnorm_kernels.h>
#include <bn/batchnorm.h>
#include <bn/rng.h>
#include <bn/activations.h>
#include <bn/losses.h>
#include <bn/dense.h>
#include <bn/mlp.h>
#include <bn/mode.h>
#include <bn/init.h>
#include <bn/standardizer.h>

#endif /* BN_BN_H */
