"""bn.distributed under mpirun (tests/mpi.cmake runs this with -np 2): a
model fitted on every rank through the communicator equals the model one
process fits on the same data (1e-5 of each tensor's largest value, at least
1e-2), evaluation is reduced, and a rank with other data makes every rank
raise. Skips visibly without mpi4py or outside mpirun."""

import numpy as np
import pytest

import bn

MPI = pytest.importorskip("mpi4py.MPI")
import bn.distributed  # noqa: E402

COMM = MPI.COMM_WORLD
pytestmark = pytest.mark.skipif(COMM.Get_size() < 2, reason="run under mpirun -np 2 or more")


def data(n=157, seed=3):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 5)) * [1, 2, 0.5, 3, 1] + [0, 1, -2, 5, 0]).astype(np.float32)
    y = ((x[:, 0] + x[:, 1] > 1).astype(np.int32) + (x[:, 3] > 5)).astype(np.int32)
    return x, y


def model(optimizer, renorm=False):
    # Batch Renormalization with fixed limits that clip: the schedule would
    # keep r = 1 and d = 0 (plain BatchNorm) for the first 5000 steps.
    extra = dict(renorm=True, renorm_schedule=False, renorm_rmax=1.5,
                 renorm_dmax=0.5) if renorm else {}
    return bn.MLP(5, [12, 6], 3, input_batchnorm=True, seed=4, optimizer=optimizer,
                  learning_rate=0.05, **extra)


def worst_difference(a, b):
    worst = 0.0
    for key, va in a.parameters().items():
        vb = b.parameters()[key]
        worst = max(worst, float(np.max(np.abs(va.astype(float) - vb)) /
                                 max(float(np.max(np.abs(va))), 1e-2)))
    return worst


@pytest.mark.parametrize("optimizer,renorm", [("sgd", False), ("momentum", False),
                                              ("momentum", True)])
def test_fit_across_ranks_equals_one_process(optimizer, renorm):
    x, y = data()
    alone = model(optimizer, renorm)
    alone.fit(x, y, epochs=3, batch_size=20, seed=8)
    loss, accuracy = alone.evaluate(x, y)
    shared = model(optimizer, renorm)
    with bn.distributed.attach(shared, COMM):
        shared.fit(x, y, epochs=3, batch_size=20, seed=8)
        shared_loss, shared_accuracy = shared.evaluate(x, y)
    assert worst_difference(alone, shared) <= 1e-5
    assert abs(shared_loss - loss) <= 1e-5 * loss
    assert abs(shared_accuracy - accuracy) <= 1e-6


def test_a_rank_with_other_data_fails_every_rank():
    x, y = data()
    if COMM.Get_rank() == 1:
        x, y = x[:100], y[:100]
    m = model("sgd")
    with bn.distributed.attach(m, COMM):
        with pytest.raises(bn.ShapeMismatchError, match="disagree"):
            m.fit(x, y, epochs=1, batch_size=20, seed=8)


def test_other_architectures_fail_every_rank():
    m = bn.MLP(5, [12 if COMM.Get_rank() == 0 else 7], 3, seed=1)
    with pytest.raises(bn.ShapeMismatchError):
        bn.distributed.attach(m, COMM)


def test_attach_gives_every_rank_rank_0s_state():
    """Rank 0 has trained (momentum velocities, step, running statistics);
    the other ranks hold fresh models with other tunables. After attach every
    rank continues rank 0's training, as one process would. (Not Adam: it
    scales the rounding noise of gradients that are zero in exact arithmetic
    to full steps, so its ranks agree only as well as their roundings.)"""
    x, y = data()
    first = model("momentum")
    first.fit(x, y, epochs=1, batch_size=20, seed=8)
    alone = bn.MLP.from_bytes(first.to_bytes(optimizer=True))
    alone.fit(x, y, epochs=2, batch_size=20, seed=9)
    m = first if COMM.Get_rank() == 0 else bn.MLP(5, [12, 6], 3, input_batchnorm=True,
                                                    seed=COMM.Get_rank(), optimizer="sgd",
                                                    learning_rate=0.5)
    with bn.distributed.attach(m, COMM):
        assert m.optimizer == bn.Optimizer.MOMENTUM and m.learning_rate == alone.learning_rate
        m.fit(x, y, epochs=2, batch_size=20, seed=9)
    assert worst_difference(alone, m) <= 1e-5
