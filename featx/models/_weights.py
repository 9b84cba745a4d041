"""Pretrained weights: torchvision's weights enums, rebuilt from data (``torchvision.models._api``).

Every classification weights enum of torchvision 0.29 exists here under the same class and
member names (``ResNet50_Weights.IMAGENET1K_V1``, ``IMAGENET1K_V2``, ``DEFAULT``), with the same
URLs, file names, hash prefixes and ``meta`` (categories, ``num_params``, ``_metrics``, ...).
Each is built on first use (by its family module or a lookup) from ``weights.json``, which
``tools/make_weights_meta.py`` writes from torchvision itself; no torch is needed to use them.

Files come from the cache torch uses (``$TORCH_HOME/hub/checkpoints``, default
``~/.cache/torch/hub/checkpoints``), so files downloaded by torchvision are found; otherwise they
are downloaded there (:func:`featx.hub.download.load_state_dict_from_url`).

Wiring a model builder (one helper for every family)::

    @register_model()
    def resnet50(*, weights=None, progress=True, **kwargs):
        w = resolve_weights(weights, ResNet50_Weights, kwargs)  # may set kwargs["num_classes"]
        model = ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)
        return w.load_into(model, progress)                     # no-op without weights

:func:`resolve_weights` accepts ``None``, an enum member, its name (``"IMAGENET1K_V1"``,
``"ResNet50_Weights.IMAGENET1K_V1"``, ``"DEFAULT"``) or a local checkpoint path, handles the
deprecated ``pretrained=True`` left in ``kwargs``, and applies torchvision's
``_ovewrite_named_param(kwargs, "num_classes", len(categories))``. Builder-specific overrides
that torchvision makes when weights are given (``transform_input``/``aux_logits`` for Inception
and GoogLeNet, ``image_size`` for ViT, ...) stay in the builder, after the call, keyed on
``w.enum is not None``.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._suggest import did_you_mean

__all__ = [
    "ResolvedWeights",
    "UnknownWeightsError",
    "Weights",
    "WeightsEnum",
    "get_model_weights",
    "get_weight",
    "list_weights_enums",
    "resolve_weights",
]

class UnknownWeightsError(KeyError, ValueError):
    """A weights name that names no member of its enum.

    Both a ``KeyError`` (what torchvision raises for it, so ``except KeyError`` code written for
    torchvision keeps working) and a ``ValueError`` (what featx documented before). Its ``str()``
    is the plain message (``KeyError`` alone would show it quoted).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_JSON_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.json")


class _Preset:
    """The ``transforms`` of a :class:`Weights`: calling it builds the preprocessing preset.

    A stand-in for torchvision's ``functools.partial(ImageClassification, crop_size=...)`` that
    imports :mod:`featx.transforms` (and Pillow) only when called.

    Args:
        keywords: ``crop_size``, ``resize_size`` (pixels), ``interpolation`` (a filter name),
            ``mean``, ``std`` (per channel, unitless).
    """

    __slots__ = ("keywords",)

    def __init__(self, keywords: Mapping[str, Any]) -> None:
        self.keywords = dict(keywords)

    def __call__(self, **overrides: Any) -> Any:
        from ..transforms import ImageClassification

        return ImageClassification(**{**self.keywords, **overrides})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Preset) and other.keywords == self.keywords

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.keywords.items())
        return f"functools.partial(featx.transforms.ImageClassification, {args})"


@dataclass
class Weights:
    """One set of pretrained weights (``torchvision.models.Weights``).

    Attributes:
        url: where torchvision downloads the checkpoint from.
        transforms: callable returning the inference preset,
            ``featx.transforms.ImageClassification(crop_size=..., resize_size=...,
            interpolation=..., mean=..., std=...)``; keyword arguments override its values.
        meta: torchvision's ``meta`` dict: ``categories`` (list of class names, or None),
            ``num_params`` (int), ``min_size`` ((H, W) in pixels), ``_metrics`` (reference
            accuracy in percent, e.g. ``{"ImageNet-1K": {"acc@1": 76.13, "acc@5": 92.862}}``),
            ``_ops`` (GFLOPS), ``_file_size`` (MB), ``recipe`` (URL), ``_docs``, and
            ``license`` where torchvision gives one.
    """

    url: str
    transforms: Callable[..., Any]
    meta: dict[str, Any]


class WeightsEnum(enum.Enum):
    """Base of every weights enum (``torchvision.models.WeightsEnum``).

    Members have a :class:`Weights` value; ``url``, ``transforms`` and ``meta`` read through to
    it. ``DEFAULT`` is an alias of the recommended member.

    Example:
        >>> from featx.models import ResNet50_Weights
        >>> ResNet50_Weights.DEFAULT
        ResNet50_Weights.IMAGENET1K_V2
        >>> ResNet50_Weights["IMAGENET1K_V1"].meta["num_params"]
        25557032
        >>> ResNet50_Weights.IMAGENET1K_V2.transforms().resize_size
        232
    """

    @classmethod
    def verify(cls, obj: Any) -> Any:
        """Turn ``obj`` into a member of this enum (``WeightsEnum.verify``).

        Args:
            obj: None, a member of this enum, or a member name: ``"IMAGENET1K_V1"``,
                ``"DEFAULT"`` or ``"ResNet50_Weights.IMAGENET1K_V1"``.

        Returns:
            The member, or None for None.

        Raises:
            UnknownWeightsError: a string that names no member; the message lists the
                members. It subclasses both ``KeyError`` (as torchvision raises) and
                ``ValueError`` (as featx documented), so either ``except`` catches it.
            TypeError: a member of another enum, or any other type.
        """
        if obj is None:
            return None
        if type(obj) is str:
            key = (
                obj.replace(cls.__name__ + ".", "", 1)
                if obj.startswith(cls.__name__ + ".")
                else obj
            )
            try:
                return cls[key]
            except KeyError:
                raise UnknownWeightsError(
                    f"{cls.__name__} has no weights {obj!r}; choose one of "
                    f"{', '.join(cls.__members__)}"
                ) from None
        if not isinstance(obj, cls):
            raise TypeError(
                f"{cls.__name__}.verify: expected a {cls.__name__} member, one of its names "
                f"or None, got {obj!r} (of type {type(obj).__name__})"
            )
        return obj

    def get_state_dict(
        self, progress: bool = True, check_hash: bool = True, **kwargs: Any
    ) -> dict[str, np.ndarray]:
        """The weights as a NumPy state dict, from torch's cache or downloaded into it.

        Args:
            progress: show a download progress bar on stderr.
            check_hash: require the download's SHA-256 to start with :attr:`hash_prefix`.
            **kwargs: passed to :func:`featx.hub.download.load_state_dict_from_url`
                (``model_dir``, ``file_name``).

        Returns:
            dict from ``state_dict()`` key to ndarray.

        Raises:
            featx.hub.download.DownloadError: not cached and cannot be downloaded; the message
                names the URL and where to put the file. An ``OSError``.
            featx.hub.download.ChecksumError: the download is corrupt. A ``RuntimeError``.
        """
        from ..hub.download import load_state_dict_from_url

        return load_state_dict_from_url(
            self.url, progress=progress, check_hash=check_hash, **kwargs
        )

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}.{self._name_}"

    def __reduce_ex__(self, protocol: Any) -> Any:
        # By name: some metas hold NaN (VGG16 IMAGENET1K_FEATURES), so lookup by value fails.
        return getattr, (self.__class__, self._name_)

    @property
    def url(self) -> str:
        """Download URL of the checkpoint."""
        return self.value.url

    @property
    def transforms(self) -> Callable[..., Any]:
        """Callable returning the inference preset (see :class:`Weights`)."""
        return self.value.transforms

    @property
    def meta(self) -> dict[str, Any]:
        """torchvision's ``meta`` dict (see :class:`Weights`)."""
        return self.value.meta

    @property
    def file_name(self) -> str:
        """**[featx]** Name of the file in the cache, e.g. ``"resnet50-0676ba61.pth"``."""
        return os.path.basename(self.url)

    @property
    def hash_prefix(self) -> str | None:
        """**[featx]** Leading hex digits of the file's SHA-256, from its name."""
        from ..hub.download import hash_prefix_from_file_name

        return hash_prefix_from_file_name(self.file_name)


# --------------------------------------------------------------------------- built from JSON


@functools.cache
def _facts() -> dict[str, Any]:
    """``weights.json``, parsed on first use: ``category_lists``, ``models`` (model name ->
    enum class name, for every torchvision classification model) and ``enums`` (class name ->
    members, ``DEFAULT``, ``legacy_pretrained`` (the member ``pretrained=True`` means, or
    None) and ``models``)."""
    with open(_JSON_PATH, encoding="utf-8") as f:
        return json.load(f)


def _make_meta(raw: Mapping[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "categories":
            value = None if value is None else _facts()["category_lists"][value]
        elif key == "min_size":
            value = tuple(value)
        meta[key] = value
    return meta


_BUILD_LOCK = threading.Lock()


def _enum(cls_name: str) -> type[WeightsEnum]:
    """The weights enum class ``cls_name``, built from ``weights.json`` on first use.

    Each class is built once (under a lock: threads may look weights up concurrently) and kept
    as a global of this module, so that its members pickle (by
    ``featx.models._weights.<cls_name>``) and every lookup returns the same class.

    Raises:
        KeyError: no such enum class.
    """
    with _BUILD_LOCK:
        cls: type[WeightsEnum] | None = globals().get(cls_name)
        if cls is None:
            cls = globals()[cls_name] = _build_enum(cls_name)
    return cls


def _build_enum(cls_name: str) -> type[WeightsEnum]:
    spec = _facts()["enums"][cls_name]
    members = [
        (name, Weights(m["url"], _Preset(m["transforms"]), _make_meta(m["meta"])))
        for name, m in spec["members"].items()
    ]
    if spec["DEFAULT"] is not None:
        members.append(("DEFAULT", dict(members)[spec["DEFAULT"]]))
    # Enum's functional API; mypy does not model it on a subclass.
    cls: type[WeightsEnum] = WeightsEnum(  # type: ignore[call-overload,call-arg,assignment]
        cls_name, members, module=__name__, qualname=cls_name
    )
    cls.__doc__ = (
        f"Pretrained weights of {', '.join(spec['models'])} "
        f"(``torchvision.models.{cls_name}``): "
        f"{', '.join(n for n, _ in members)}."
    )
    return cls


def __getattr__(name: str) -> Any:
    # The enum classes are module attributes (``_weights.ResNet50_Weights``), built on demand.
    if not name.startswith("_") and name in _facts()["enums"]:
        return _enum(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def list_weights_enums() -> list[str]:
    """**[featx]** Names of all weights enum classes, sorted (torchvision's classification set).

    Returns:
        e.g. ``["AlexNet_Weights", ..., "ResNet50_Weights", ...]``.
    """
    return sorted(_facts()["enums"])


def get_model_weights(name: Callable[..., Any] | str) -> type[WeightsEnum]:
    """The weights enum class of a model (``torchvision.models.get_model_weights``).

    Args:
        name: model name (``"resnet50"``, case-insensitive) or the builder function.

    Returns:
        The enum class, e.g. ``ResNet50_Weights``. Known for every torchvision classification
        model, including ones featx cannot build yet.

    Raises:
        ValueError: unknown model name; the message lists close names.
        TypeError: ``name`` is neither a string nor a function (as torchvision).

    Example:
        >>> get_model_weights("resnet50").DEFAULT
        ResNet50_Weights.IMAGENET1K_V2
    """
    if not isinstance(name, str) and not callable(name):
        raise TypeError(
            f"get_model_weights: expected a model name or builder function, got {name!r} "
            f"(of type {type(name).__name__})"
        )
    key = name if isinstance(name, str) else getattr(name, "__name__", repr(name))
    key = key.lower()
    model_to_enum = _facts()["models"]
    if key not in model_to_enum:
        close = did_you_mean(key, model_to_enum)
        hint = f"; {close}" if close else ""
        raise ValueError(
            f"Unknown model {name!r}: no pretrained weights are known{hint}"
        )
    return _enum(model_to_enum[key])


def get_weight(name: str) -> WeightsEnum:
    """A weights member from its full name (``torchvision.models.get_weight``).

    Args:
        name: ``"<EnumClass>.<MEMBER>"``, e.g. ``"ResNet50_Weights.IMAGENET1K_V1"``.

    Returns:
        The member.

    Raises:
        ValueError: not of the form ``A.B`` or unknown enum class.
        UnknownWeightsError: unknown member (a ``KeyError`` as in torchvision, and a
            ``ValueError``).

    Example:
        >>> get_weight("ResNet50_Weights.IMAGENET1K_V1").url
        'https://download.pytorch.org/models/resnet50-0676ba61.pth'
    """
    try:
        enum_name, value_name = name.split(".")
    except ValueError:
        raise ValueError(
            f"get_weight: expected '<EnumClass>.<MEMBER>' (one dot), e.g. "
            f"'ResNet50_Weights.IMAGENET1K_V1', got {name!r}"
        ) from None
    enums = _facts()["enums"]
    if enum_name not in enums:
        close = did_you_mean(enum_name, enums, n=3, cutoff=0.6)
        hint = f" ({close})" if close else ""
        raise ValueError(
            f"get_weight: no weights enum named {enum_name!r} in {name!r}; expected one of "
            f"list_weights_enums(){hint}"
        )
    return _enum(enum_name).verify(value_name)


# --------------------------------------------------------------------------- builder helper

@dataclass
class ResolvedWeights:
    """What a builder loads after :func:`resolve_weights`: an enum member, a file, or nothing.

    Attributes:
        enum: the weights member, or None.
        path: a local checkpoint file, or None.
    """

    enum: WeightsEnum | None = None
    path: str | None = None

    def __bool__(self) -> bool:
        return self.enum is not None or self.path is not None

    def state_dict(self, progress: bool = True) -> dict[str, np.ndarray] | None:
        """The state dict to load (downloading an enum's file if needed), or None.

        Args:
            progress: show a download progress bar on stderr.

        Returns:
            dict from key to ndarray, or None when there are no weights.

        Raises:
            featx.hub.download.DownloadError, featx.hub.download.ChecksumError: see
                :meth:`WeightsEnum.get_state_dict`.
            ValueError, OSError: a local file that cannot be read as a checkpoint.
        """
        if self.enum is not None:
            return self.enum.get_state_dict(progress=progress, check_hash=True)
        if self.path is not None:
            from ..hub import load_state_dict_file

            return load_state_dict_file(self.path)
        return None

    def load_into(self, model: Any, progress: bool = True) -> Any:
        """``model.load_state_dict(self.state_dict(progress))`` (strict); returns ``model``.

        Args:
            model: the freshly built model.
            progress: show a download progress bar on stderr.

        Returns:
            ``model``, unchanged when there are no weights.

        Raises:
            RuntimeError: the checkpoint does not fit the model (``load_state_dict``'s message
                listing missing/unexpected keys and shape mismatches).
        """
        sd = self.state_dict(progress)
        if sd is not None:
            model.load_state_dict(sd)
        return model


def _override(kwargs: dict[str, Any], name: str, value: Any) -> None:
    """Set ``kwargs[name] = value`` for a builder (torchvision's ``_ovewrite_named_param``).

    The one check of a builder argument fixed by the builder or its weights (``num_classes``
    of the categories, ResNeXt's ``groups``...): a caller's different value is an error.

    Raises:
        ValueError: ``kwargs[name]`` is given and differs from ``value``.
    """
    if name in kwargs:
        if kwargs[name] != value:
            raise ValueError(
                f"{name}={kwargs[name]!r} conflicts with this model/weights, which fix "
                f"{name}={value!r}; expected {value!r} or no {name} argument"
            )
    else:
        kwargs[name] = value


def _legacy_pretrained(
    weights_enum: type[WeightsEnum], kwargs: dict[str, Any], model_name: str
) -> WeightsEnum | None:
    """Turn the deprecated ``pretrained`` in ``kwargs`` into weights, with one warning that says
    what it means (torchvision warns twice)."""
    pretrained = kwargs.pop("pretrained")
    if pretrained:
        default_name = _facts()["enums"][weights_enum.__name__]["legacy_pretrained"]
        if default_name is None:
            raise ValueError(
                f"{model_name}(pretrained=True): torchvision has no legacy default weights "
                f"for this model; expected pretrained=False, or weights= one of "
                f"{', '.join(weights_enum.__members__)}"
            )
        default: WeightsEnum | None = weights_enum[default_name]
    else:
        default = None
    if default is None:
        meaning, instead = "weights=None (random initialisation)", "weights=None"
    else:
        meaning = f"weights={default}"
        instead = f"weights={default} (or {weights_enum.__name__}.DEFAULT, the best ones)"
    warnings.warn(
        f"{model_name}(pretrained={pretrained!r}) is deprecated (replaced by weights= in "
        f"torchvision 0.13); it means {meaning}. Expected {instead}.",
        UserWarning,
        stacklevel=4,
    )
    return default


def resolve_weights(
    weights: Any,
    weights_enum: type[WeightsEnum],
    kwargs: dict[str, Any],
    *,
    model_name: str | None = None,
) -> ResolvedWeights:
    """The one weights helper every model builder calls (torchvision's builder prologue).

    Does, in a builder's ``kwargs``, what torchvision's ``handle_legacy_interface`` decorator,
    ``Weights.verify`` and ``_ovewrite_named_param(kwargs, "num_classes", ...)`` do.

    Args:
        weights: the builder's ``weights`` argument: None; a member of ``weights_enum``; a
            member name (``"IMAGENET1K_V1"``, ``"DEFAULT"``, ``"ResNet50_Weights.IMAGENET1K_V1"``);
            or the path (str or ``os.PathLike``) of a local checkpoint (``.pth``/``.pt`` torch
            file, ``.safetensors``, ``.npz``) whose keys are the model's ``state_dict()`` keys.
        weights_enum: the builder's enum class, e.g. ``ResNet50_Weights``.
        kwargs: the builder's ``**kwargs``, edited in place: the deprecated ``pretrained`` is
            removed (``True`` means torchvision's legacy default, the first ImageNet weights,
            ``False`` means None; both warn with torchvision's ``UserWarning`` messages), and
            for an enum with categories ``num_classes`` is set to their number.
        model_name: for messages; defaults to the enum's model.

    Returns:
        A :class:`ResolvedWeights`; build the model with ``kwargs``, then call its
        ``load_into(model, progress)`` (a no-op when there are no weights).

    Raises:
        UnknownWeightsError: an unknown member name (a ``KeyError`` as in torchvision, and a
            ``ValueError``).
        ValueError: ``num_classes`` in ``kwargs`` differs from the
            weights' number of categories; ``pretrained=True`` for a model torchvision has no
            legacy weights for.
        TypeError: a member of another enum or an unsupported type; both ``weights`` and
            ``pretrained`` given.
        FileNotFoundError: a path-like string (it has a directory separator or a checkpoint
            extension) that does not exist.
    """
    if model_name is None:
        model_name = next(
            (m for m, e in _facts()["models"].items() if e == weights_enum.__name__),
            weights_enum.__name__,
        )
    if "num_classes" in kwargs:
        n = kwargs["num_classes"]
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise (ValueError if isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                   else TypeError)(
                f"{model_name}(): num_classes must be an int >= 0 (the size of the "
                f"classifier's output; 0 gives an (N, 0) output), got {n!r}"
            )
    if "pretrained" in kwargs:
        if weights is not None:
            raise TypeError(
                f"{model_name}() got both 'weights' and the deprecated 'pretrained'; "
                f"pass only weights=..."
            )
        weights = _legacy_pretrained(weights_enum, kwargs, model_name)
    if weights is None:
        return ResolvedWeights()

    resolved: ResolvedWeights
    if isinstance(weights, os.PathLike) or (
        isinstance(weights, str) and _is_path_like(weights, weights_enum)
    ):
        path = os.fspath(weights)
        from ..hub import refuse_folder

        refuse_folder(path, "weights")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"weights file not found: {path!r} (weights= takes a path, or one of "
                f"{', '.join(weights_enum.__members__)})"
            )
        resolved = ResolvedWeights(path=path)
    elif isinstance(weights, str):
        try:
            resolved = ResolvedWeights(enum=weights_enum.verify(weights))
        except UnknownWeightsError as exc:
            raise UnknownWeightsError(
                f"{exc}, or the path of a checkpoint file (no such file: {weights!r})"
            ) from None
    else:
        resolved = ResolvedWeights(enum=weights_enum.verify(weights))

    if resolved.enum is not None:
        categories = resolved.enum.meta.get("categories")
        if categories is not None:
            _override(kwargs, "num_classes", len(categories))
    return resolved


def _is_path_like(s: str, weights_enum: type[WeightsEnum]) -> bool:
    from ..hub import looks_like_checkpoint  # not at the top: featx.models loads without it

    if s in weights_enum.__members__ or s.startswith(weights_enum.__name__ + "."):
        return False
    return looks_like_checkpoint(s)
