"""Shadow one method of a transformers model for the length of one call.

The engine changes what transformers' video model does inside a single ``forward`` call
(keeping memory attention, feeding a previous mask, filling holes) by putting a wrapper in
the instance's ``__dict__``, where it hides the class's method, and deleting it afterwards.
The wrapped methods are private parts of transformers: the contract test checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def shadowing(model: Any, name: str, wrap: Callable[[Callable], Callable]) -> Iterator[None]:
    """Within the block, ``model.<name>`` is ``wrap(original method)``; the class's method after."""
    setattr(model, name, wrap(getattr(model, name)))
    try:
        yield
    finally:
        delattr(model, name)
