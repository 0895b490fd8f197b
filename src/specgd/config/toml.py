"""Reading configurations: TOML files, saved runs' manifests and store run files; arrays from
``.npy`` files, named by their content; and overrides of a configuration table (the command line's
flags, the values of a sweep grid).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from specgd.config.options import OPTION, OPTIONS
from specgd.data.digest import stored_name
from specgd.errors import ConfigError

Path_ = tuple[str, ...]

NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file (numpy.lib.format)


def load_array(value: Any, base_dir: Path | None, where: str) -> np.ndarray:
    """An array given inline (a nested list), or read from the ``.npy`` file a string names (relative
    to ``base_dir``); ``where`` names the field in messages."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ConfigError(f"{where}: not a file path (it holds a NUL character): {value!r}")
        path = Path(value).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ConfigError(f"{where}: file not found: {path}")
        if path.suffix != ".npy":
            raise ConfigError(f"{where}: expected a .npy file, got {path}")
        try:
            with path.open("rb") as fh:
                if fh.read(len(NPY_MAGIC)) != NPY_MAGIC:
                    raise ConfigError(f"{where}: {path} is not a NumPy .npy file (it does not start "
                                      "with the .npy header); write arrays with numpy.save")
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"{where}: cannot read {path}: {e}") from None
    return np.asarray(value, dtype=float)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The raw table of a TOML file, or :class:`ConfigError` (missing file, syntax error, not
    UTF-8). A UTF-8 byte-order mark at the start is allowed."""
    path = Path(path)
    return tomllib_loads(_read_text(path), path)


def tomllib_loads(text: str, path: Path | str) -> dict[str, Any]:
    """TOML text read from ``path`` as a table, or ConfigError naming the file."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def _read_text(path: Path) -> str:
    """A configuration file's text (UTF-8, a byte-order mark dropped), or ConfigError."""
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"config path is not a file: {path}")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None


def read_config(path: str | Path) -> tuple[dict[str, Any], Path]:
    """The configuration table a file describes, and the folder its relative paths start from.

    The file is a TOML run configuration; or the ``manifest.json`` of a saved run (its
    ``run_config``: the run again, arrays from the copies beside it); or a run file
    ``runs/<hash>.parquet`` of a results store (the run's configuration, arrays from the store)."""
    path = Path(path)
    if path.suffix == ".json":
        return _manifest_config(path), path.parent
    if path.suffix == ".parquet":
        return _store_run_config(path), path.parent.parent
    return read_toml(path), path.parent


def _manifest_config(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(_read_text(path))
    except ValueError as e:
        raise ConfigError(f"{path}: not a readable manifest ({e})") from None
    if not isinstance(manifest, dict) or "run_config" not in manifest:
        raise ConfigError(f"{path}: not a run manifest (it has no run_config)")
    data = manifest["run_config"]
    if not isinstance(data, dict):
        why = manifest.get("run_config_note") or "the run was not described by a configuration"
        raise ConfigError(f"{path}: this run cannot be rerun from its manifest ({why})")
    return {k: v for k, v in data.items() if k != "out"}


def _store_run_config(path: Path) -> dict[str, Any]:
    # lazy: pyarrow only to read a stored run's record
    import pyarrow.parquet as pq

    if not path.is_file():
        raise ConfigError(f"run file not found: {path}")
    try:
        record = json.loads((pq.read_schema(path).metadata or {})[b"specgd.config"])
        data = record["config"]
    except Exception as e:  # noqa: BLE001 - any unreadable run file is refused the same way
        raise ConfigError(f"{path}: not a readable run file of a results store ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: its recorded config is not a table")
    optimizer = dict(data.get("optimizer") or {})
    if optimizer.get("lr") is not None and data.get("lrs") is None:
        # A sweep runs its batches with the rate as a run option (lrs), which compiles it as a
        # value rather than a constant: the same here, for the same numbers bit for bit.
        data = {**data, "optimizer": {k: v for k, v in optimizer.items() if k != "lr"},
                "lrs": [optimizer["lr"]]}
    return data


def content_addressed(data: Mapping[str, Any], base_dir: Path | None) -> tuple[dict, dict]:
    """``data`` (a configuration table) with every array read from a file (``problem.cov.matrix``,
    ``init.array``) named by its content, ``arrays/<sha256>.npy`` (:mod:`specgd.data.digest`),
    and those arrays by name.

    A hash of the result covers the arrays' values, not the paths they were read from; saving
    the arrays under their names beside a result (:func:`specgd.results.io.save_arrays`) makes
    it rerunnable from there. Arrays given inline (nested lists) stay as they are."""
    out, arrays = _deepcopy(data), {}
    for opt in OPTIONS:
        value = _get(out, opt.path, None)
        if opt.array and isinstance(value, str):
            array = np.asarray(load_array(value, base_dir, opt.dotted), dtype=float)
            name = stored_name(array)
            _set(out, opt.path, name)
            arrays[name] = array
    return out, arrays


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[Path_, Any]) -> dict[str, Any]:
    """A copy of ``data`` (a raw config table) with the values at the given paths replaced.

    Replacing the covariance family, the optimizer name or the init kind by a different one drops
    the rest of that section (its parameters belong to the old choice); changing the mode drops
    the options used only with the old mode (``n``, ``batch_size``); an option drops those it
    conflicts with (``optimizer.lr`` drops ``lrs`` and vice versa). All of this follows the
    declarations of :mod:`specgd.config.options`.
    """
    out = _deepcopy(data)
    for opt in OPTIONS:
        if opt.path not in overrides:
            continue
        changed = _get(out, opt.path, opt.default) != overrides[opt.path]
        if opt.selects and changed:
            _set(out, opt.path[:-1], {})
        for other in OPTIONS:
            if changed and opt.cli == "choice" and opt.name in other.needs:
                _drop(out, other.path)
        for name in opt.conflicts:
            _drop(out, OPTION[name].path)
    for key, value in overrides.items():
        _set(out, key, value)
    return out


def _drop(data: dict[str, Any], path: Path_) -> None:
    node = _get(data, path[:-1], None)
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _deepcopy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deepcopy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deepcopy(v) for v in data]
    return data


def _get(data: Mapping[str, Any], path: Path_, default: Any) -> Any:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return default
        data = data[key]
    return data


def _set(data: dict[str, Any], path: Path_, value: Any) -> None:
    for key in path[:-1]:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[path[-1]] = value


__all__ = ["apply_overrides", "content_addressed", "load_array", "read_config", "read_toml", "tomllib_loads"]
