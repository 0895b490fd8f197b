"""Claims on the runs of a results store, so that two sweeps into one store never compute a run
twice.

Before it submits any work, a sweep claims each run it is about to compute: it creates
``claims/<hash>.json`` with ``O_CREAT | O_EXCL`` (holding the lock ``claims/.lock``, taken with
``fcntl.flock``, so that checking a claim and taking it over are one step) and removes it once the
run file (or its error record) is written. A run claimed by another sweep is left to it. A claim
is stale, and may be taken over, when its process is gone (same host, pid not alive or reused) or
when it has not been refreshed for ``timeout`` seconds (a live sweep touches its claims every
minute or so; this is the only test across hosts). Taking a claim over also deletes the dead
writer's temporaries of that run. Only the process that submits the work takes claims, so Dask
workers never touch the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specgd.results.store import ResultsStore

CLAIMS = "claims"
#: Seconds after which a claim nobody refreshed is stale, whatever its host.
CLAIM_TIMEOUT = 1800.0


class Claims:
    """One sweep's claims on runs of a store: taken before the runs are submitted, dropped once
    each is stored. Thread-safe; :meth:`refresh` may run in a heartbeat thread."""

    def __init__(self, store: ResultsStore, timeout: float = CLAIM_TIMEOUT):
        self.store = store
        self.dir = store.root / CLAIMS
        self.timeout = timeout
        self.host = socket.gethostname()
        self.token = uuid.uuid4().hex
        self.held: set[str] = set()
        self._mutex = threading.Lock()

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's claim lock (released by closing, also when the process dies)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def acquire(self, keys: Iterable[str], since: float | None = None
                ) -> tuple[list[str], list[str], list[str]]:
        """Claim every run of ``keys`` that is neither finished nor claimed by a live sweep.

        Returns ``(mine, finished, others)``: the runs now claimed by this object, the runs
        already finished (stored, or failed at or after ``since``: see
        :meth:`ResultsStore.is_finished`), and the runs that another live sweep holds."""
        mine, finished, others = [], [], []
        me = {"pid": os.getpid(), "host": self.host, "start": _process_start(os.getpid()),
              "token": self.token}
        with self.locked():
            for key in keys:
                if self.store.is_finished(key, since):
                    finished.append(key)
                elif self._take(key, {**me, "time": time.time()}):
                    mine.append(key)
                else:
                    others.append(key)
            self.store.remove_temporaries(mine)
        return mine, finished, others

    def _take(self, key: str, me: dict[str, Any]) -> bool:
        path = self.path(key)
        with self._mutex:
            self.held.add(key)  # before the file exists, so that release() finds it if interrupted
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                holder = self.holder(key)
                if holder is not None and holder.get("token") == self.token:
                    return True
                if not self.is_stale(key, holder):
                    with self._mutex:
                        self.held.discard(key)
                    return False
                path.unlink(missing_ok=True)  # stale: taken over (under the lock, one taker)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(me))
            return True
        raise OSError(f"could not claim run {key} in {self.dir}")

    def holder(self, key: str) -> dict[str, Any] | None:
        """The claim's content, or None when it is missing or unreadable."""
        try:
            return json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None

    def is_stale(self, key: str, holder: dict[str, Any] | None) -> bool:
        """Whether the claim may be taken over: unreadable (its writer died while writing it, as
        claims are written under the lock), not refreshed for ``timeout`` seconds, or held by a
        process of this host that is gone."""
        try:
            age = time.time() - self.path(key).stat().st_mtime
        except FileNotFoundError:
            return True
        if not isinstance(holder, dict) or age > self.timeout:
            return True
        if holder.get("host") == self.host:
            return not _alive(holder.get("pid"), holder.get("start"))
        return False

    def release(self, keys: Iterable[str]) -> None:
        """Drop this object's claims on ``keys`` (claims taken over by others are left alone)."""
        keys = list(keys)
        if not keys:
            return
        with self.locked():
            for key in keys:
                holder = self.holder(key)
                if holder is None or holder.get("token") == self.token:
                    self.path(key).unlink(missing_ok=True)
                with self._mutex:
                    self.held.discard(key)

    def release_all(self) -> None:
        with self._mutex:
            keys = list(self.held)
        self.release(keys)

    def refresh(self) -> None:
        """Touch every held claim, so that other hosts see this sweep is alive."""
        with self._mutex:
            keys = list(self.held)
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path(key))


def _process_start(pid: int) -> str | None:
    """The start time of a process, in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: Any, start: str | None) -> bool:
    """Whether process ``pid`` of this host runs (a zombie or a reused pid does not count)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill()
    if stat[stat.rindex(")") + 2:].startswith("Z"):
        return False
    return start is None or _process_start(pid) in (None, start)
