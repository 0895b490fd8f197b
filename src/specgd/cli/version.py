"""``specgd version``: the versions that determine the numbers, and JAX's backend."""

from __future__ import annotations

from importlib import metadata

import typer


def version_command() -> None:
    """Print the versions of specgd, JAX and optax, and the JAX backend in use."""
    import jax  # lazy: this command reports JAX's backend (starting it takes a second)

    for name in ("specgd", "jax", "jaxlib", "optax"):
        try:
            typer.echo(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            typer.echo(f"{name} not installed")
    devices = ", ".join(str(dev) for dev in jax.devices())
    typer.echo(f"backend {jax.default_backend()} ({devices})")
