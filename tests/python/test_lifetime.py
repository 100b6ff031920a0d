"""close(), the context manager and the finalizer: a released handle is never
touched again, and using a closed layer is an error, not a crash."""

import gc

import numpy as np
import pytest

import bn


def test_context_manager_closes():
    with bn.BatchNorm(8) as layer:
        assert isinstance(layer, bn.BatchNorm) and not layer.closed
        assert repr(layer).startswith("<bn.BatchNorm features=8 eps=1e-05 update_factor=0.1")
    assert layer.closed
    assert repr(layer) == "<bn.BatchNorm (closed)>"


def test_context_manager_closes_on_exception():
    with pytest.raises(KeyError):
        with bn.BatchNorm(2) as layer:
            raise KeyError("boom")
    assert layer.closed


USES = [
    lambda l: l.forward(np.ones((2, 3)), training=True),
    lambda l: l.backward(np.ones((2, 3))),
    lambda l: l.gamma,
    lambda l: setattr(l, "gamma", np.ones(3)),
    lambda l: l.eps,
    lambda l: setattr(l, "eps", 0.1),
    lambda l: l.update_factor,
    lambda l: l.batches_tracked,
    lambda l: l.features,
    lambda l: l.flags,
    lambda l: l.to_bytes(),
    lambda l: l.from_bytes(b"BNST"),
    lambda l: l.__enter__(),
    lambda l: __import__("pickle").dumps(l),
]


@pytest.mark.parametrize("use", USES)
def test_using_a_closed_layer_raises(use):
    layer = bn.BatchNorm(3)
    layer.forward(np.ones((2, 3)) * [[1], [2]], training=True)
    layer.close()
    with pytest.raises(bn.ClosedError, match="closed") as info:
        use(layer)
    assert isinstance(info.value, bn.WrongStateError) and isinstance(info.value, RuntimeError)


def test_close_is_idempotent_and_runs_the_finalizer_once():
    layer = bn.BatchNorm(3)
    finalizer = layer._finalizer
    assert finalizer.alive
    layer.close()
    assert not finalizer.alive and layer.closed
    layer.close()


def test_finalizer_releases_a_dropped_layer():
    layer = bn.BatchNorm(3)
    finalizer = layer._finalizer
    del layer
    gc.collect()
    assert not finalizer.alive


def test_many_layers_do_not_leak_handles():
    for _ in range(2000):
        layer = bn.BatchNorm(64)
        layer.forward(np.ones((2, 64)) * [[0], [1]], training=True)
    # nothing to assert beyond not crashing; ASan builds catch leaks and double frees


@pytest.mark.parametrize("make", [lambda: bn.Dense(3, 2), lambda: bn.MLP(3, [4], 2)],
                         ids=["Dense", "MLP"])
def test_dense_and_mlp_handles_are_released_once(make):
    obj = make()
    finalizer = obj._finalizer
    with obj:
        assert not obj.closed
    assert obj.closed and not finalizer.alive
    obj.close()
    other = make()
    finalizer = other._finalizer
    del other
    gc.collect()
    assert not finalizer.alive


def test_folded_and_loaded_objects_own_their_handles():
    with bn.Dense(3, 2) as d, bn.BatchNorm(2) as norm:
        folded = bn.fold(d, norm)
    assert not folded.closed and folded.forward(np.ones((1, 3))).shape == (1, 2)
    with bn.MLP(3, [4], 2) as m:
        copies = [m.fold_batchnorm(), bn.MLP.from_bytes(m.to_bytes())]
    for c in copies:
        assert c.predict(np.ones((2, 3))).shape == (2,)
        c.close()
