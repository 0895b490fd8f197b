"""``python -m specgd.cli``: the ``specgd`` program (:func:`specgd.cli.program`)."""

from specgd.cli import program

if __name__ == "__main__":  # importing this module runs nothing
    program()
