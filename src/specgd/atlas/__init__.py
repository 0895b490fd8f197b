"""The advantage atlas: where does a spectral update beat GD, and by how much (docs/atlas.md).

:func:`atlas` runs every slice of :mod:`specgd.atlas.slices` into one
resumable folder of measures (:mod:`specgd.atlas.plan`, :mod:`specgd.atlas.search`,
:mod:`specgd.atlas.execute`) and writes the tables (:mod:`specgd.atlas.measure`), the verdicts
(:mod:`specgd.atlas.table`), the boundaries and their theory checks
(:mod:`specgd.atlas.boundaries`) and the figures (:mod:`specgd.atlas.figures`).

``specgd.atlas(...)`` is the function; this package has the same name, and importing it binds the
package to ``specgd.atlas``. The package is therefore callable too: calling it calls
:func:`atlas`, so ``specgd.atlas(out, quick=True)`` works whichever of the two the name holds.
"""

import sys
import types

from specgd.atlas.plan import AtlasConfig
from specgd.atlas.run import AtlasResult, atlas
from specgd.atlas.slices import OPTIMIZERS, SLICE_NAMES, SLICES

__all__ = ["OPTIMIZERS", "SLICES", "SLICE_NAMES", "AtlasConfig", "AtlasResult", "atlas"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs) -> AtlasResult:
        return atlas(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
