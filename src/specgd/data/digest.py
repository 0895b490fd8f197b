"""Content digests of arrays: the name under which an array (a dense covariance, an explicit
initialization) is recorded in manifests and run hashes, and stored beside results.

Two arrays get the same digest exactly when they have the same shape and the same float64
values, whatever file or object held them; so a run hash that covers the digest changes when
a ``.npy`` file is rewritten in place, and not when the same matrix is read from another path.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

#: The folder, beside a saved run or in a results store, holding arrays by their digest.
ARRAYS = "arrays"


def digest(array: Any) -> str:
    """The SHA-256 (hex) of an array's shape and float64 values in C order."""
    values = np.ascontiguousarray(np.asarray(array, dtype=np.float64))
    h = hashlib.sha256(repr(values.shape).encode())
    h.update(values.tobytes())
    return h.hexdigest()


def stored_name(array: Any) -> str:
    """The array's path relative to a results folder: ``arrays/<digest>.npy``."""
    return f"{ARRAYS}/{digest(array)}.npy"
