"""``with`` support for objects that hold connections and release them in ``close()``."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """A base for resources used as context managers: ``with`` returns the object and ends by ``close()``."""

    def close(self) -> None:
        """Release what the object holds; subclasses say what."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
