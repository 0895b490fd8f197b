"""Claims: statements checked by numbers, the tolerances that judge them, and their declarations.

A claim has one of four kinds (documented in ``docs/report.md#claim-kinds``):

* ``paper``: a statement of arXiv 2601.22652 or arXiv 2511.18661, quoted; verdict PASS or FAIL.
* ``derived``: a prediction derived on the theory page (``docs/theory.md``); PASS or FAIL.
* ``scope``: does the picture hold under a variation of the setting; HOLDS or BREAKS.
* ``observation``: a measured number with nothing to hold it to; INFO.

An experiment declares each of its claims once, as a :class:`ClaimSpec` (id, kind, source; its
words live in the experiment's text file, see :mod:`specgd.report.texts`), and makes a claim by
calling the spec with the measured and predicted values, a :class:`Tolerance` (which gives both
the verdict and its words) and the claim's typed ``values`` (what the words and the papers'
evidence sentences read).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

KINDS = ("paper", "derived", "scope", "observation")
VERDICTS = {"paper": ("PASS", "FAIL"), "derived": ("PASS", "FAIL"), "scope": ("HOLDS", "BREAKS"),
            "observation": ("INFO",)}
# Every verdict a claim can carry, in the order the report lists them.
ALL_VERDICTS = ("PASS", "FAIL", "HOLDS", "BREAKS", "INFO")
# Keys of one claim in ``claims.json``, in order; the schema is documented and kept stable.
JSON_KEYS = ("id", "kind", "verdict", "text", "measured", "predicted", "tolerance", "passed",
             "source", "note")


@dataclass
class Claim:
    """A statement checked by numbers.

    ``passed`` is True/False for a verdict against ``tolerance`` (PASS/FAIL for ``paper`` and
    ``derived`` claims, HOLDS/BREAKS for ``scope`` claims) and None for an ``observation``
    (INFO). ``source`` cites where the statement comes from: a docs page anchor such as
    ``docs/theory.md#growth-rates`` or a paper with its place in it. ``values`` holds the typed
    numbers behind the words (a λ, an exponent, a limit), which the papers' evidence reads.
    """

    id: str
    text: str
    measured: Any
    predicted: Any
    tolerance: str
    passed: bool | None
    source: str = ""
    note: str = ""
    kind: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind is None:  # a claim without a prediction is an observation
            self.kind = "observation" if self.passed is None else "derived"
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind == "observation") != (self.passed is None):
            raise ValueError(f"claim {self.id}: an observation has passed=None, every other kind "
                             f"a bool (kind {self.kind!r}, passed {self.passed!r})")

    @property
    def verdict(self) -> str:
        """PASS/FAIL (paper, derived), HOLDS/BREAKS (scope) or INFO (observation)."""
        if self.passed is None:
            return "INFO"
        good, bad = VERDICTS[self.kind]
        return good if self.passed else bad

    def to_json(self) -> dict[str, Any]:
        """The claim as ``claims.json`` lists it (keys ``JSON_KEYS``; the typed values are kept in
        the experiment's record, see :meth:`to_record`)."""
        out = asdict(self)
        out["verdict"] = self.verdict
        out = {key: out[key] for key in JSON_KEYS}
        for key in ("measured", "predicted"):
            out[key] = _plain(out[key])
        out["passed"] = None if self.passed is None else bool(self.passed)
        return out

    def to_record(self) -> dict[str, Any]:
        """The claim as an experiment's record keeps it: ``to_json`` and the typed values."""
        return {**self.to_json(), "values": plain(self.values)}


def _plain(value: Any) -> Any:
    """A measured or predicted value for JSON: NumPy scalars as Python numbers, tuples as lists,
    non-finite floats as None (JSON has no NaN); a dict is written as it is."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plain(value: Any) -> Any:
    """Typed values for JSON: as :func:`_plain`, dicts and arrays included (keys as strings)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if getattr(value, "ndim", 0):  # an array
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def claim_from_json(obj: dict[str, Any]) -> Claim:
    """The claim written by ``Claim.to_json`` or ``to_record`` (``verdict`` is recomputed)."""
    return Claim(id=obj["id"], text=obj.get("text", ""), measured=obj.get("measured"),
                 predicted=obj.get("predicted"), tolerance=obj.get("tolerance", ""),
                 passed=obj.get("passed"), source=obj.get("source", "") or "",
                 note=obj.get("note", "") or "", kind=obj.get("kind"),
                 values=obj.get("values") or {})


# --- tolerances ------------------------------------------------------------------------------------

def within(measured: float, predicted: float, rel: float) -> bool:
    """``|measured − predicted| ≤ rel·|predicted|``, False for non-finite values."""
    if not (math.isfinite(measured) and math.isfinite(predicted)):
        return False
    return abs(measured - predicted) <= rel * abs(predicted)


@dataclass(frozen=True)
class Tolerance:
    """How a claim is judged: its words (the ``tolerance`` column of the report) and the test of
    the measured against the predicted value (None: an observation, no verdict)."""

    words: str
    test: Callable[[Any, Any], bool] | None = None

    def judge(self, measured: Any, predicted: Any) -> bool | None:
        return None if self.test is None else bool(self.test(measured, predicted))


def rel(tol: float, words: str | None = None) -> Tolerance:
    """Within a relative ``tol`` of the prediction (:func:`within`)."""
    return Tolerance(words or f"rel {tol:.0%}", lambda m, p: within(m, p, tol))


def at_most(bound: float, words: str) -> Tolerance:
    """The measured value is at most ``bound`` (the prediction only informs)."""
    return Tolerance(words, lambda m, _p: m <= bound)


def near(tol: float, words: str) -> Tolerance:
    """``|measured − predicted| ≤ tol``."""
    return Tolerance(words, lambda m, p: abs(m - p) <= tol)


def decided(words: str, passed: bool) -> Tolerance:
    """A verdict reached by several criteria at once (stated in ``words``), e.g. a scope claim's
    three criteria or a pair of bounds."""
    return Tolerance(words, lambda _m, _p: passed)


def observation(words: str = "observation") -> Tolerance:
    """No verdict: the claim is an observation (INFO)."""
    return Tolerance(words)


# --- declarations ----------------------------------------------------------------------------------

class Wording(Protocol):
    """What a :class:`ClaimSpec` needs of an experiment's text file (a
    :class:`specgd.report.texts.Texts`): the claim's statement and note, filled from values."""

    def claim_text(self, cid: str, fill: dict[str, Any]) -> tuple[str, str]: ...


@dataclass(frozen=True)
class ClaimSpec:
    """One claim an experiment states, declared once: its id (which may hold ``{fields}`` filled
    from the claim's values, e.g. ``E1.plateau-λ{lam:g}``), kind and source; its words come from
    ``wording`` (the experiment's text file)."""

    id: str
    kind: str
    source: str
    wording: Wording = field(repr=False, compare=False)

    def __call__(self, measured: Any, predicted: Any, tolerance: Tolerance,
                 values: dict[str, Any] | None = None, exact: tuple[Any, Any] | None = None,
                 **fill: Any) -> Claim:
        """The claim: ``values`` (typed, kept in the record) and ``fill`` (pre-formatted pieces of
        the words only) fill the id, statement and note. ``exact`` is the (measured, predicted)
        pair the tolerance judges when the claim shows them rounded."""
        values = dict(values or {})
        words = {**values, **fill}
        cid = self.id.format(**words)
        text, note = self.wording.claim_text(self.id, words)
        passed = tolerance.judge(*(exact if exact is not None else (measured, predicted)))
        return Claim(cid, text, measured, predicted, tolerance.words, passed, self.source, note,
                     self.kind, values)

    @property
    def pattern(self) -> str:
        """The id as an ``fnmatch`` pattern (every ``{field}`` a ``*``)."""
        out, depth = [], 0
        for ch in self.id:
            if ch == "{":
                depth += 1
                if depth == 1:
                    out.append("*")
            elif ch == "}":
                depth -= 1
            elif depth == 0:
                out.append(ch)
        return "".join(out)


# --- counting --------------------------------------------------------------------------------------

def count_verdicts(claims: list[Claim]) -> dict[str, dict[str, int]]:
    """Claims per kind and verdict, ``{kind: {verdict: count}}``, every possible verdict of a
    kind present (with 0) for the kinds that occur, kinds in the order of ``KINDS``."""
    out: dict[str, dict[str, int]] = {}
    for kind in KINDS:
        of_kind = [c for c in claims if c.kind == kind]
        if of_kind:
            out[kind] = {v: sum(c.verdict == v for c in of_kind) for v in VERDICTS[kind]}
    return out


def format_counts(counts: dict[str, dict[str, int]]) -> str:
    """``derived: 40 PASS, 1 FAIL; scope: 12 HOLDS, 8 BREAKS; ...`` (or ``no claims``)."""
    parts = [f"{kind}: " + ", ".join(f"{n} {v}" for v, n in per.items())
             for kind, per in counts.items()]
    return "; ".join(parts) if parts else "no claims"
