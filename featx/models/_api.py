"""The model registry: ``register_model``, ``list_models``, ``get_model``.

Mirrors ``torchvision.models`` (``list_models``, ``get_model``); builders
register themselves with ``@register_model()`` when their family module is
imported. ``featx.models`` imports families on first use, so the functions
here import the families they look at first.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union

from .._suggest import did_you_mean

if TYPE_CHECKING:  # featx.nn is imported with the first family, not here
    from ..nn import Module

__all__ = ["register_model", "list_models", "get_model", "get_model_builder"]

M = TypeVar("M", bound="Module")

BUILTIN_MODELS: dict[str, Callable[..., Module]] = {}


def register_model(name: Optional[str] = None
                   ) -> Callable[[Callable[..., M]], Callable[..., M]]:
    """Decorator that registers a model builder under ``name``.

    Args:
        name: registry key; defaults to the builder's ``__name__``.

    Returns:
        The decorator; it returns the builder unchanged.

    Raises:
        ValueError: the name is already registered (built-in names included).
    """
    def wrapper(fn: Callable[..., M]) -> Callable[..., M]:
        key = name if name is not None else fn.__name__
        if not fn.__module__.startswith(f"{__package__}."):
            _import_families()  # a user's builder: find a clash with ours now
        if key in BUILTIN_MODELS:
            raise ValueError(
                f"register_model: the name {key!r} is taken (by "
                f"{BUILTIN_MODELS[key].__module__}."
                f"{BUILTIN_MODELS[key].__qualname__}); expected a name not "
                f"yet registered")
        BUILTIN_MODELS[key] = fn
        return fn

    return wrapper


def list_models(module: Any = None,
                include: Union[str, Iterable[str], None] = None,
                exclude: Union[str, Iterable[str], None] = None
                ) -> list[str]:
    """Sorted names of the registered models.

    Args:
        module: only the builders of this package, as in torchvision
            (``featx.models``: every classification model), or of this family
            module (``featx.models.resnet``); ``None`` for all.
        include: fnmatch pattern(s) a name must match (any of them).
        exclude: fnmatch pattern(s) that remove a name.

    Returns:
        Sorted list of names.
    """
    _import_families()
    if module is not None and not isinstance(getattr(module, "__name__", None), str):
        raise TypeError(f"module must be a module such as featx.models, got {module!r}")
    # torchvision compares the builder's package (featx.models for
    # featx.models.resnet.resnet18); featx also takes the family module itself.
    names = {k for k, v in BUILTIN_MODELS.items()
             if module is None or module.__name__
             in (v.__module__, v.__module__.rsplit(".", 1)[0])}
    if include:
        pats = [include] if isinstance(include, str) else list(include)
        names = {n for n in names if any(fnmatch.fnmatch(n, p)
                                         for p in pats)}
    if exclude:
        pats = [exclude] if isinstance(exclude, str) else list(exclude)
        names = {n for n in names if not any(fnmatch.fnmatch(n, p)
                                             for p in pats)}
    return sorted(names)


def get_model_builder(name: str) -> Callable[..., Module]:
    """The builder function registered under ``name``.

    Raises:
        ValueError: unknown name; the message lists close names.
        TypeError: ``name`` is not a string.
    """
    if not isinstance(name, str):
        hint = (f"; call {name.__name__}() itself" if callable(name)
                and hasattr(name, "__name__") else "")
        raise TypeError(
            f"get_model: expected a model name (a str such as 'resnet50'), got "
            f"{name!r} (of type {type(name).__name__}){hint}")
    key = name.lower()
    if key not in BUILTIN_MODELS:
        _import_families(key)
    try:
        return BUILTIN_MODELS[key]
    except KeyError:
        raise ValueError(unknown_model_message(
            name, "See featx.models.list_models()")) from None


def unknown_model_message(name: str, listing: str) -> str:
    """The message for an unknown model ``name``: close names, then
    ``listing`` (where to find the available ones). A torchvision model
    featx does not build (ViT, Swin, MaxViT) is named as such."""
    _import_families()  # every name
    if name.lower() in torchvision_only_models():
        return (f"{name!r} is a torchvision model that featx does not build "
                f"yet (featx builds torchvision's classification CNNs). "
                f"{listing} for the {len(BUILTIN_MODELS)} available models.")
    close = did_you_mean(name.lower(), BUILTIN_MODELS)
    hint = f"; {close}" if close else ""
    return (f"Unknown model {name!r}{hint or '.'} {listing} for the "
            f"{len(BUILTIN_MODELS)} available models.")


def get_model(name: str, **config: Any) -> Module:
    """Builds the model registered under ``name``.

    Args:
        name: a name from :func:`list_models` (case-insensitive).
        **config: passed to the builder (``weights``, ``num_classes``, ...).

    Returns:
        The model, a ``featx.nn.Module`` in training mode.

    Raises:
        ValueError: unknown name; the message lists close names.
        TypeError: ``name`` is not a string.
    """
    return get_model_builder(name)(**config)


def torchvision_only_models() -> set[str]:
    """torchvision's classification models that featx has no builder for
    (their weights enums are known: ``get_model_weights("vit_b_16")``)."""
    from ._weights import _facts

    _import_families()
    return set(_facts()["models"]) - set(BUILTIN_MODELS)


def _import_families(name: str | None = None) -> None:
    """``featx.models._import_families``: registers the built-in builders of
    the family that defines ``name``, or of every family."""
    from . import _import_families as import_families

    import_families(name)
