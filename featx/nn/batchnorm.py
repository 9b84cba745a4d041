"""``featx.nn.BatchNorm2d`` (``torch.nn.BatchNorm2d``)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import numpy as np

from .._op import MetaArray, SlotRef, op
from . import functional as F
from . import init
from .module import Module, _size_arg
from .parameter import Parameter

__all__ = ["BatchNorm2d"]


@op
def _batch_norm_train_step(input: Any, module: "BatchNorm2d") -> Any:
    """One training-mode BatchNorm step: count the batch, normalise with
    batch statistics and update the running ones in place. Returns
    ``NotImplemented`` for plan placeholders; a shape-only run
    (:class:`featx._op.MetaArray`) changes nothing either."""
    if isinstance(input, SlotRef):
        return NotImplemented
    factor = 0.0 if module.momentum is None else module.momentum
    nbt = module.num_batches_tracked
    if nbt is not None and not isinstance(input, MetaArray):
        nbt += 1
        if module.momentum is None:
            factor = 1.0 / float(nbt)
    return F.batch_norm(input, module.running_mean, module.running_var,
                        module.weight, module.bias, True, factor, module.eps)


# Named as the eval graph's F.batch_norm call, so a traced-through subclass
# has a 'batch_norm' node in both modes (torchvision cannot trace one).
_batch_norm_train_step.__name__ = "batch_norm"
_batch_norm_train_step.__qualname__ = "batch_norm"


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) per channel (``nn.BatchNorm2d``).

    Eval mode normalises with the running statistics (one C kernel). Train
    mode normalises with the batch statistics (biased variance) and updates
    the running ones in place: ``r = (1 - momentum) * r + momentum * s``
    (unbiased variance for ``running_var``; ``momentum=None`` gives the
    cumulative average), and adds 1 to ``num_batches_tracked``.

    Args:
        num_features: channels C.
        eps: added to the variance, unitless.
        momentum: fraction (0..1) of the batch statistic mixed into the
            running one, or ``None`` for a cumulative average.
        affine: learnable ``weight`` (1) and ``bias`` (0).
        bias: keyword-only; with ``affine``, whether there is a ``bias``
            (torch >= 2.11).
        track_running_stats: keep ``running_mean`` (0), ``running_var`` (1)
            and ``num_batches_tracked`` (int64 0) buffers; without them
            batch statistics are used in both modes.

    Shape:
        (N, C, H, W) -> (N, C, H, W).

    Raises:
        ValueError: (at call) input not 4-D, wrong channel count, or one
            value per channel in train mode.
    """

    def __init__(self, num_features: int, eps: float = 1e-5,
                 momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        num_features = _size_arg(type(self).__name__, "num_features",
                                 num_features)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.empty((num_features,), np.float32))
            if bias:
                self.bias = Parameter(np.empty((num_features,), np.float32))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean",
                                 np.zeros((num_features,), np.float32))
            self.register_buffer("running_var",
                                 np.ones((num_features,), np.float32))
            self.register_buffer("num_batches_tracked",
                                 np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, variance 1, batch count 0."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        """Resets the running statistics; weight 1, bias 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Any) -> Any:
        if isinstance(input, np.ndarray) and input.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected a 4-D input (N, C, H, W), got shape "
                             f"{input.shape} ({input.ndim}-D)")
        if self.training and self.track_running_stats:
            return _batch_norm_train_step(input, self)
        return F.batch_norm(input, self.running_mean, self.running_var,
                            self.weight, self.bias,
                            self.training or self.running_mean is None,
                            0.0 if self.momentum is None else self.momentum,
                            self.eps)

    def _load_from_state_dict(self, state_dict: Mapping[str, Any],
                              prefix: str, missing_keys: list,
                              unexpected_keys: list,
                              error_msgs: list) -> None:
        # Like torch with a checkpoint that lacks version metadata: a
        # missing num_batches_tracked keeps the current count instead of
        # being reported as missing.
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and key not in state_dict and \
                self.num_batches_tracked is not None:
            state_dict = dict(state_dict)
            state_dict[key] = self.num_batches_tracked.copy()
        super()._load_from_state_dict(state_dict, prefix, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")
