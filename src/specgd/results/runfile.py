"""A run file of a results store: one run's table in Parquet, with the run's record (its config,
content hash and package versions) in the file's metadata.

The hash names the file (``runs/<hash>.parquet``), so a run file can be checked against its name:
a file damaged from outside (truncated, overwritten, or a copy of another run's file) is found by
its Parquet footer and its record (:func:`checked_schema`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from specgd.results.result import versions

#: The Parquet metadata key holding a run file's record.
RECORD_KEY = b"specgd.config"


def config_hash(config: dict[str, Any]) -> str:
    """A stable content hash of a fully resolved run config (canonical JSON, sorted keys)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def run_table(key: str, config: dict[str, Any], frame: pd.DataFrame) -> pa.Table:
    """One run's table as stored: its config, its hash ``key`` and the package versions ride along
    as Parquet metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    record = {**config, "hash": key, "versions": config.get("versions") or versions()}
    meta[RECORD_KEY] = json.dumps(record, sort_keys=True, default=str).encode()
    return table.replace_schema_metadata(meta)


def read_record(path: Path) -> dict[str, Any]:
    """The record a run file holds (its ``config``, ``params``, ``hash`` and ``versions``)."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[RECORD_KEY])


def checked_schema(path: Path) -> pa.Schema:
    """The Arrow schema of a run file whose footer reads and whose recorded hash and config are
    its own (the file name); ValueError saying what is wrong otherwise."""
    schema = pq.read_schema(path)
    raw = (schema.metadata or {}).get(RECORD_KEY)
    if raw is None:
        raise ValueError("no specgd.config metadata: not a run file written by specgd")
    record = json.loads(raw)
    if not isinstance(record, dict):
        raise ValueError("its specgd.config metadata is not a table")
    recorded = record.get("hash", path.stem)
    if recorded != path.stem:
        raise ValueError(f"it holds run {recorded}, not {path.stem}")
    if "config" in record and config_hash(record["config"]) != path.stem:
        raise ValueError(f"it holds the run whose config hashes to {config_hash(record['config'])}, "
                         f"not {path.stem}")
    return schema.remove_metadata()


def unify(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for run files whose columns differ (union by name; numeric types promoted, a
    column of conflicting types read as text)."""
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        types: dict[str, list[pa.DataType]] = {}
        for schema in schemas:
            for f in schema:
                types.setdefault(f.name, []).append(f.type)
        return pa.schema([pa.field(name, _common_type(name, kinds)) for name, kinds in types.items()])


def _common_type(name: str, kinds: list[pa.DataType]) -> pa.DataType:
    """The type every one of ``kinds`` (one column's types) promotes to, or text."""
    try:
        return pa.unify_schemas([pa.schema([(name, k)]) for k in kinds],
                                promote_options="permissive").field(name).type
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.string()
