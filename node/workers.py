"""Worker processes of a node: started by spawn, at a lower CPU priority, and gone with the node.

A node's Python threads share one GIL; work that needs no consensus state (read-only calls, the execution
audit) runs in workers on the other cores, each reading the node's database on its own connection.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import sdk.errors
from sdk.errors import XinlianError

#: py-evm raises the limit to 12288 so that 1024 nested EVM calls fit; py_ecc raises it to 100000, which
#: lets C-level recursion (json, repr, pickle) overflow the thread stack and kill the process instead.
EVM_RECURSION_LIMIT: int = 12_288
#: How often a worker checks that the node process that started it is still alive.
PARENT_CHECK_S: float = 1.0
#: Workers run at this lower CPU priority: on a busy machine the kernel serves consensus first.
WORKER_NICENESS: int = 10


def can_share_database(database_url: str) -> bool:
    """Whether a worker process can open ``database_url`` too (an in-memory SQLite database it cannot)."""
    if not database_url.startswith("sqlite"):
        return True
    path = database_url.split("://", 1)[-1]
    return path not in ("", "/") and ":memory:" not in path and "mode=memory" not in path


def cap_recursion_limit(limit: int = EVM_RECURSION_LIMIT) -> int:
    """Lower the interpreter recursion limit to ``limit`` if an import raised it above; returns the limit.

    Call after py-evm (and py_ecc, which it imports) are loaded, or their import raises it again.
    """
    if sys.getrecursionlimit() > limit:
        sys.setrecursionlimit(limit)
    return sys.getrecursionlimit()


def start_worker_pool(
    processes: int, initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> ProcessPoolExecutor:
    """Start ``processes`` spawned workers; each runs ``prepare_worker`` then ``initializer(*initargs)``."""
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init,
        initargs=(os.getpid(), initializer, initargs),
    )


def skip_main_module_in_workers() -> None:
    """Spare the processes this one spawns the import of its ``__main__``; for ``xinlian node run`` only.

    A spawned child imports its parent's main module again (as ``__mp_main__``), so that functions defined
    there can be unpickled. For a node process that is the ``xinlian`` command or ``python -m sdk.cli``,
    which import the whole CLI: ≈ 0.6 s of CPU per worker at every node start, for nothing: node workers run
    functions of ``node`` and ``sdk`` modules only. The main module's spec is renamed ``__main__``, a name
    multiprocessing leaves alone (as it does for a package's ``__main__`` run by ``python -m``). It changes
    the process's main module for good, so only ``node.cli.serve`` (the node command) calls it, after the
    command line was parsed: a program that embeds a node (``node.runtime.Node``) and pickles functions of
    its own main module is left as it is.
    """
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    # multiprocessing.spawn leaves a main module named so alone (spawn._fixup_main_from_name)
    skipped = name is not None and (name == "__main__" or name.endswith(".__main__"))
    if main is not None and not skipped:
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)


class WorkerPool:
    """A pool of ``start_worker_pool`` workers that a component warms up and closes once: the lifecycle the
    node's worker-backed services (read-only calls, signature checks) share."""

    def __init__(self, processes: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
        self.processes = processes
        self._executor = start_worker_pool(processes, initializer, initargs)
        self._lock = threading.Lock()
        self._closed = False

    def warm_up(self) -> None:
        """Start every worker now (the first task would otherwise wait for the worker's imports)."""
        futures = [self._executor.submit(int, 0) for _ in range(self.processes)]
        for future in futures:
            with contextlib.suppress(Exception):
                future.result(timeout=120)

    def close(self) -> None:
        """Stop the workers (pending tasks are cancelled); later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)


#: A typed error as plain data, to cross the process boundary (exceptions with keyword details do not pickle).
ErrorData = tuple[str, str, str, dict[str, Any]]


def error_as_data(exc: XinlianError) -> ErrorData:
    """``exc`` as (class name, message, code, detail), for ``rebuild_error`` in the node process."""
    return type(exc).__name__, exc.message, exc.code, exc.detail


def rebuild_error(data: ErrorData) -> XinlianError:
    """The sdk.errors exception ``error_as_data`` described (XinlianError for an unknown class name)."""
    name, message, code, detail = data
    cls = getattr(sdk.errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, XinlianError)):
        cls = XinlianError
    try:
        return cls(message, code=code, **detail)
    except TypeError:  # a class whose constructor wants more than a message and details
        return XinlianError(message, code=code, **detail)


def _init(parent: int, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    prepare_worker(parent)
    initializer(*initargs)
    # Unpickling ``initializer`` imported its module, and with it py-evm, whose py_ecc raises the recursion
    # limit to 100000: lowered again, as the node process does (C-level recursion would overflow the stack).
    cap_recursion_limit()


def prepare_worker(parent: int) -> None:
    """In a new worker: end with ``parent`` (a node killed with SIGKILL cannot stop its pools, also while
    this worker was still starting), leave Ctrl-C to the node, and lower this process's CPU priority."""
    if os.getppid() != parent:
        os._exit(0)
    threading.Thread(
        target=_exit_with_parent, args=(parent,), name="worker-parent-watch", daemon=True
    ).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the node process handles Ctrl-C and stops the pool
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)


def _exit_with_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:
            os._exit(0)
