"""Checks of the block-configuration arguments of model constructors."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def check_block_configs(arg: str, setting: Any,
                        allowed: tuple[type, ...]) -> None:
    """Raises unless ``setting`` is a non-empty sequence of ``allowed``.

    Args:
        arg: the constructor argument's name, for the messages.
        setting: the value given (e.g. ``inverted_residual_setting``).
        allowed: the configuration classes an element may be.

    Raises:
        ValueError: ``setting`` is empty.
        TypeError: ``setting`` is not a sequence, or an element is not one
            of ``allowed`` (the message names its type and index).
    """
    names = " / ".join(t.__name__ for t in allowed)
    if not isinstance(setting, Sequence):
        raise TypeError(f"{arg}: expected a sequence of {names}, got "
                        f"{type(setting).__name__}")
    if len(setting) == 0:
        raise ValueError(f"{arg}: expected at least one {names}, got an "
                         f"empty sequence")
    for i, s in enumerate(setting):
        if not isinstance(s, allowed):
            raise TypeError(f"{arg}: expected a sequence of {names}, got "
                            f"{type(s).__name__} at index {i}")


def check_stride(block: str, stride: int,
                 allowed: tuple[int, ...] = (1, 2)) -> None:
    """Raises ``ValueError`` unless ``stride`` is one of ``allowed``.

    The one stride check of the inverted-residual blocks (MobileNetV2/V3,
    MNASNet, ShuffleNetV2, EfficientNet); ``block`` names the block in the
    message, e.g. ``"MNASNet inverted residual stride: expected 1 or 2, got
    3"``.
    """
    if stride not in allowed:
        expected = (" or ".join(str(s) for s in allowed) if len(allowed) <= 2
                    else f"one of {', '.join(str(s) for s in allowed)}")
        raise ValueError(f"{block} stride: expected {expected}, got {stride}")
