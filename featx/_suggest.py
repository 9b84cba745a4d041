"""Spelling hints for unknown names in error messages."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str], n: int = 5,
                 cutoff: float = 0.5) -> str:
    """``"did you mean 'a', 'b'?"`` for the choices closest to ``word``
    (difflib's ratio >= ``cutoff``, at most ``n``), or ``""`` if none is."""
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)
    return (f"did you mean {', '.join(repr(c) for c in close)}?"
            if close else "")
