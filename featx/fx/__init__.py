"""Tracing featx modules into graphs (the counterpart of ``torch.fx``)."""
from .tracer import TraceError, Tracer, wrap

__all__ = ["TraceError", "Tracer", "wrap"]
