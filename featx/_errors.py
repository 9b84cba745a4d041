"""featx's own exception types."""
from __future__ import annotations

__all__ = ["OpError"]


class OpError(ValueError, RuntimeError):
    """An op refused its inputs or arguments: shapes that do not fit (e.g.
    a conv2d weight's in-channels against the input's), a window larger
    than the padded input, out-of-range attributes.

    Raised by featx's C core wherever torch raises ``RuntimeError`` for
    the same call, and a ``ValueError`` as featx documents, so that both
    ``except RuntimeError`` (code written for torch) and ``except
    ValueError`` catch it. The message names the op, the value seen and the
    value expected.
    """
