"""The ``specgd`` command line (a Typer app: :data:`specgd.cli.main.app`)."""
