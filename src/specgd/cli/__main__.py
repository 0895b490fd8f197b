"""``python -m specgd.cli``: the ``specgd`` program (:func:`specgd.cli.program`)."""

from specgd.cli import program

program()
