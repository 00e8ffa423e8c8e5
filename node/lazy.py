"""Names a package offers but imports only on first use (PEP 562), so that importing one light submodule
does not load what its siblings need (FastAPI, SQLAlchemy, py-evm)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, sources: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name of ``sources`` is imported from its module
    (``sources[name]``) when first asked for, then kept in the package like an eager import."""

    def __getattr__(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
