"""Crash-safe writes: a temporary file in the same folder, then an atomic rename."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` then rename ``tmp`` over ``path``: readers see the old file or the new
    one, never a partial one. The file gets the permissions of the umask, like any new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    # os.open with mode 0o666 applies the umask (tempfile.mkstemp would force 0600).
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_arrays(folder: Path, arrays: dict[str, Any]) -> None:
    """Write arrays named by their content (``{"arrays/<digest>.npy": array}``, see
    :mod:`specgd.data.digest`) under ``folder``, each atomically and only if absent (a file of
    that name already holds the same content)."""
    # lazy: numpy only to write arrays; io needs no numerical stack
    import numpy as np

    def write(path: Path, array: Any) -> None:
        with open(path, "wb") as fh:  # a file object: np.save would add .npy to the temporary name
            np.save(fh, np.asarray(array, dtype=np.float64), allow_pickle=False)

    for name, array in arrays.items():
        path = folder / name
        if not path.exists():
            atomic_write(path, lambda p, a=array: write(p, a))


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=_default) + "\n"))


def _default(obj: Any) -> Any:
    try:
        import numpy as np  # lazy: numpy only to write numpy values; io needs no numerical stack

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    return repr(obj)
