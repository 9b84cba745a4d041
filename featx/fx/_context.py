"""The tracer that is running in this thread, if any.

``featx.nn.Module.__call__`` and ``Module.__getattr__`` ask :func:`current`
and hand control to the tracer while a trace runs; outside a trace they cost
one context-variable read. A context variable (not a module global) keeps
traces in different threads apart.
"""
from __future__ import annotations

import contextvars
from typing import Any

_TRACER: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "featx_tracer", default=None)


def current() -> Any:
    """The active ``featx.fx.Tracer`` of this thread, or ``None``."""
    return _TRACER.get()


def activate(tracer: Any) -> contextvars.Token:
    return _TRACER.set(tracer)


def deactivate(token: contextvars.Token) -> None:
    _TRACER.reset(token)
