# Type stub of the C extension featx._core (csrc/py): its functions and types
# are documented in their docstrings; to a type checker every name is Any.
from typing import Any

def __getattr__(name: str) -> Any: ...
