"""An experiment's words, kept out of its code: one Markdown file per experiment (``text.md``
beside its modules) with the summary, the figure captions, each claim's statement and note, and
any longer mechanism text, each filled in from typed values when the report is rendered.

The file is a list of sections::

    ## summary
    What the figures show, in a few sentences.

    ## caption e1_dynamics
    d = {d}, m = {m}, ... (Python format fields, filled from the parameters and measured values)

    ## claim E1.plateau-λ{lam:g}
    GD's spike peak sits on the plateau at λ = {lam:g}

    ### note
    at the peak (step {step}): a = {a:.4f}, ...

A section's lines are joined by single spaces (so a text may be wrapped freely); HTML comments
are ignored; a literal brace is written twice (``{{``). A claim's section is named by its id as
declared (:class:`specgd.report.claims.ClaimSpec`), fields included.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from specgd.report.claims import ClaimSpec

__all__ = ["Texts"]

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
NOTE = "### note"


class Texts:
    """The sections of one text file, by name (``summary``, ``caption <figure>``,
    ``claim <id>``, ``claim <id> note``, or any name an experiment uses for a longer text)."""

    def __init__(self, path: str | Path, source: str | None = None):
        self.path = Path(path)
        text = self.path.read_text(encoding="utf-8") if source is None else source
        self.sections = _parse(text, self.path)

    @classmethod
    def beside(cls, module_file: str) -> Texts:
        """The ``text.md`` in the folder of ``module_file`` (an experiment module's ``__file__``)."""
        return _load(Path(module_file).with_name("text.md"))

    @classmethod
    def from_markdown(cls, source: str, name: str = "<text>") -> Texts:
        """Sections given as a string (a plug-in or a test that keeps its words beside its code)."""
        return cls(name, source)

    def __contains__(self, name: str) -> bool:
        return name in self.sections

    def raw(self, name: str) -> str:
        """The section's text, its fields not filled in."""
        try:
            return self.sections[name]
        except KeyError:
            raise KeyError(f"{self.path} has no section '## {name}'") from None

    def __call__(self, name: str, **fill: Any) -> str:
        """The section with its fields filled in from ``fill``."""
        return self.raw(name).format(**fill)

    def claim(self, cid: str, kind: str, source: str) -> ClaimSpec:
        """Declare a claim of this experiment: its statement (and note) must be in the file."""
        self.raw(f"claim {cid}")
        return ClaimSpec(cid, kind, source, self)

    def claim_text(self, cid: str, fill: dict[str, Any]) -> tuple[str, str]:
        """A declared claim's statement and note (empty when it has none), filled in."""
        text = self(f"claim {cid}", **fill)
        note = f"claim {cid} note"
        return text, (self(note, **fill) if note in self else "")


@cache
def _load(path: Path) -> Texts:
    return Texts(path)


def _parse(source: str, path: Path) -> dict[str, str]:
    """``## name`` sections (and a claim's ``### note``) as single-spaced text."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in _COMMENT.sub("", source).splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            if current in sections:
                raise ValueError(f"{path}: section '## {current}' appears twice")
            sections[current] = []
        elif line.strip() == NOTE:
            if current is None or not current.startswith("claim "):
                raise ValueError(f"{path}: '{NOTE}' outside a claim's section")
            current = f"{current} note"
            sections[current] = []
        elif current is not None:
            sections[current].append(line.strip())
        elif line.strip() and not line.startswith("# "):
            raise ValueError(f"{path}: text before the first section: {line.strip()[:60]!r}")
    return {name: " ".join(part for part in lines if part) for name, lines in sections.items()}
