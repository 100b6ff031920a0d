"""bn.BatchNorm.threads: the property mirrors bn_batchnorm_set/get_threads,
a threaded layer matches the float64 reference, and is deterministic."""

import numpy as np
import pytest

import bn
import bnref

TOL = dict(rtol=1e-4, atol=2e-5)


def test_threads_default_and_set():
    with bn.BatchNorm(4) as layer:
        assert layer.threads == 1
        layer.threads = 3
        assert layer.threads == 3
        layer.threads = 64
        assert layer.threads == 64


@pytest.mark.parametrize("value", [0, 65, 1 << 31])
def test_threads_out_of_range(value):
    with bn.BatchNorm(4) as layer:
        with pytest.raises(ValueError):
            layer.threads = value
        assert layer.threads == 1


def test_threads_not_integer():
    with bn.BatchNorm(4) as layer:
        with pytest.raises(TypeError):
            layer.threads = 2.0
        with pytest.raises(OverflowError):
            layer.threads = -1


def test_threaded_layer_matches_reference(rng, isa):
    # 1024 features x 512 samples: above the parallel threshold (2**18 elements).
    x = (1.5 + 2.0 * rng.standard_normal((512, 1024))).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    with bn.BatchNorm(1024) as layer:
        layer.threads = 4
        y = layer.forward(x, training=True)
        dx = layer.backward(dy)
        ref_y, _, _, _ = bnref.forward_training(x)
        ref_dx, ref_dg, ref_db = bnref.backward_training(x, dy)
        np.testing.assert_allclose(y, ref_y, **TOL)
        np.testing.assert_allclose(dx, ref_dx, **TOL)
        np.testing.assert_allclose(layer.dbeta, ref_db, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(layer.dgamma, ref_dg, rtol=1e-4, atol=1e-3)
        # Same thread count, same input: the same bytes.
        y2 = layer.forward(x, training=True)
        assert y2.tobytes() == y.tobytes()
