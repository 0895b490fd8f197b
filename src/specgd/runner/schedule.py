"""Learning-rate schedules of a run (``specgd.run(..., schedule=...)``), built from optax's.

A schedule is a factor ``s(t)`` on the learning rate at update ``t = 0 … steps−1`` (``s`` peaks
at 1, so the optimizer's ``lr`` is the peak rate):

- ``constant``: 1;
- ``linear``: ``1 − t'/T'``, linear decay to 0 at the end of the run;
- ``cosine``: ``(1 + cos(π t'/T'))/2``, cosine decay to 0;
- ``wsd`` (warmup–stable–decay): 1 until the last ``decay·steps`` updates, then linear to 0;

each after a linear warmup from 0 over the first ``warmup·steps`` updates (``t' = t − warmup
steps``, ``T'`` the updates after the warmup). The run multiplies each update by ``s(t)``: every
optimizer here makes an update proportional to its rate (Adam's, Muon's with its decoupled weight
decay, sign GD's...), so this is the schedule on the rate, and it applies to SpecGD's fused
population step alike. A schedule is a run option rather than part of the optimizer because it
depends on the run's length, and one schedule then applies to any optimizer, optax's included.
"""

from __future__ import annotations

import math

import optax

from specgd.errors import ConfigError

SCHEDULES = ("constant", "linear", "cosine", "wsd")
#: The decay fraction of ``wsd`` when none is given.
WSD_DECAY = 0.2


def build(kind: str | None, steps: int, warmup: float | None = None,
          decay: float | None = None) -> optax.Schedule | None:
    """The factor ``s(t)`` of a schedule as an optax schedule, or ``None`` for a constant rate
    without warmup (nothing to multiply). ``warmup``, ``decay``: fractions of ``steps``."""
    kind = kind or "constant"
    w = int(round((warmup or 0.0) * steps))
    if kind == "constant" and w == 0:
        return None
    rest = max(steps - w, 1)
    if kind == "constant":
        main = optax.constant_schedule(1.0)
    elif kind == "linear":
        main = optax.linear_schedule(1.0, 0.0, rest)
    elif kind == "cosine":
        main = optax.cosine_decay_schedule(1.0, rest)
    elif kind == "wsd":
        d = max(1, int(round((WSD_DECAY if decay is None else decay) * steps)))
        d = min(d, rest)
        main = optax.join_schedules([optax.constant_schedule(1.0),
                                     optax.linear_schedule(1.0, 0.0, d)], [rest - d])
    else:
        raise ValueError(f"unknown schedule {kind!r}; choose from {', '.join(SCHEDULES)}")
    if w == 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, 1.0, w), main], [w])


def describe(kind: str | None, warmup: float | None, decay: float | None) -> str:
    """``'constant'``, ``'cosine (warmup 5%)'``, ``'wsd (warmup 5%, decay 20%)'``."""
    kind = kind or "constant"
    parts = []
    if warmup:
        parts.append(f"warmup {100 * warmup:g}%")
    if kind == "wsd":
        parts.append(f"decay {100 * (WSD_DECAY if decay is None else decay):g}%")
    return kind + (f" ({', '.join(parts)})" if parts else "")


def check_fractions(kind: str | None, warmup: float | None, decay: float | None) -> None:
    """``decay`` only with ``wsd``; warmup and decay together at most the whole run."""
    if decay is not None and (kind or "constant") != "wsd":
        raise ConfigError(f"decay is the decay fraction of schedule='wsd', not {kind or 'constant'!r}")
    total = (warmup or 0.0) + ((WSD_DECAY if decay is None else decay) if kind == "wsd" else 0.0)
    if total > 1.0 + 1e-12 or (warmup is not None and not math.isfinite(warmup)):
        raise ConfigError(f"warmup + decay must be at most 1 (the whole run), got {total:g}")
