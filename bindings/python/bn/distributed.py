"""Data-parallel training of a :class:`bn.MLP` over MPI, through mpi4py.

Every process of a communicator holds a model of the same architecture;
:func:`attach` (collective) checks that, copies rank 0's whole state to
every rank (parameters, statistics, tunables and optimizer state: its model
bytes with the optimizer, :meth:`MLP.load_bytes`), and makes the model one
rank of a data-parallel training (``bn_mlp_set_reducer``). Then, on every
rank::

    model.fit(x, y, epochs=..., batch_size=..., seed=...)   # the whole data set

trains on the union: each rank takes a contiguous share of every global batch
of the single-process shuffling, BatchNorm statistics and gradients are
reduced, and every rank ends with the model one process would have trained
(to float rounding). ``model.evaluate`` splits the samples and reduces.
``train_step(x_shard, y_shard)`` trains on the union of the ranks' shards.

Every reduce is a Reduce to rank 0 then a Bcast, so all ranks get the same
bits; the BatchNorm moments are merged in rank order. A failure on one rank
raises on every rank (see ``bn_mlp_set_reducer`` in bn/mlp.h). The C library
libbn_mpi does the same for C programs; this module needs only mpi4py.

Example (``mpirun -np 2 python3 train.py``)::

    from mpi4py import MPI
    import bn, bn.distributed
    model = bn.MLP(784, [256], 10, input_batchnorm=True, optimizer="momentum")
    with bn.distributed.attach(model, MPI.COMM_WORLD):
        model.fit(x, y, epochs=5, batch_size=256, seed=1)
    if MPI.COMM_WORLD.rank == 0:
        model.save("model.bnm")
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _lib
from ._lib import lib
from ._errors import error_for
from .mlp import MLP
from .sharded import Moments, moments_merge

#: bn_status of a failed transport (an exception inside the reducer).
_TRANSPORT_FAILED = 8  # BN_ERR_IO


class Attachment:
    """A model attached to a communicator; :meth:`detach` (or leaving the
    ``with`` block) makes it train alone again."""

    def __init__(self, model: MLP, comm: Any) -> None:
        self.model = model
        self.comm = comm.Dup()  # libbn's collectives never mix with the caller's
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        #: The exception a reduce raised, if any (the C call then fails with BN_ERR_IO).
        self.error: Optional[BaseException] = None
        self._callback = _lib.ReduceFn(self._reduce)  # kept alive while attached

    def _reduce(self, _context, op, data, count) -> int:
        try:
            from mpi4py import MPI
            buf = np.ctypeslib.as_array(data, shape=(count,))
            msg = [buf, MPI.DOUBLE]  # ctypes' '<d' buffer format is not one mpi4py maps
            if op == _lib.BN_REDUCE_SUM:
                if self.rank == 0:
                    self.comm.Reduce(MPI.IN_PLACE, msg, op=MPI.SUM, root=0)
                else:
                    self.comm.Reduce(msg, None, op=MPI.SUM, root=0)
            else:
                blocks = self.comm.gather(buf.copy(), root=0)
                if self.rank == 0:
                    f = (count - 1) // 2
                    total = Moments(0.0, np.zeros(f), np.zeros(f))
                    try:
                        for b in blocks:
                            total = moments_merge(total, Moments(b[0], b[1:1 + f], b[1 + f:]))
                        buf[0], buf[1:1 + f], buf[1 + f:] = total.samples, total.mean, total.m2
                    except Exception:  # a failing rank sent NaN: every rank fails next
                        buf[0] = np.nan
            self.comm.Bcast(msg, root=0)
            return 0
        except BaseException as exc:  # noqa: B902 - ctypes callbacks cannot raise
            self.error = exc
            return _TRANSPORT_FAILED

    def _install(self) -> None:
        m = self.model
        with m._lock:
            m._live()
            m._call(lib.bn_mlp_set_reducer, self._callback, None, self.rank, self.size)
        # rank 0's whole state everywhere (None: rank 0 could not serialize
        # it); every rank learns whether all took it, so none waits alone
        from mpi4py import MPI
        failure: Optional[BaseException] = None
        blob: Optional[bytes] = None
        if self.rank == 0:
            try:
                blob = m.to_bytes(optimizer=True)
            except BaseException as exc:  # noqa: B902 - re-raised after the vote
                failure = exc
        blob = self.comm.bcast(blob, root=0)
        if self.rank != 0:
            try:
                if blob is None:
                    raise error_for(_TRANSPORT_FAILED, "rank 0 could not send its model")
                m.load_bytes(blob)
            except BaseException as exc:  # noqa: B902 - re-raised after the vote
                failure = exc
        if not self.comm.allreduce(failure is None, op=MPI.LAND):
            if failure is not None:
                raise failure
            raise error_for(_TRANSPORT_FAILED, "another rank could not take rank 0's model")

    def detach(self) -> None:
        """Train alone again; frees the duplicated communicator (collective)."""
        if self.comm is None:
            return
        with self.model._lock:
            if not self.model.closed:
                self.model._call(lib.bn_mlp_set_reducer, _lib.ReduceFn(0), None, 0, 0)  # NULL: alone
        self.comm.Free()
        self.comm = None

    def __enter__(self) -> "Attachment":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.detach()


def attach(model: MLP, comm: Any) -> Attachment:
    """Make ``model`` one rank of a data-parallel training over ``comm`` (an
    mpi4py communicator); collective. Raises ShapeMismatchError on every
    rank when the ranks' architectures differ."""
    attachment = Attachment(model, comm)
    try:
        attachment._install()
    except BaseException:
        attachment.detach()
        raise
    return attachment


__all__ = ["Attachment", "attach"]
