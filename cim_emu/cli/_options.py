"""Options that several commands share: the backend to compute on and the seed of random draws."""

from __future__ import annotations

from typing import Callable, Optional

import click

from ..backend import BACKEND_NAMES, Backend, BackendUnavailableError, get_backend


def backend_option(command: Callable) -> Callable:
    """``--backend auto|numpy|cupy`` (default: the library's default backend)."""
    return click.option(
        "--backend", type=click.Choice(BACKEND_NAMES), default=None,
        help="Where to compute: numpy (host), cupy (CUDA device) or auto (cupy when a GPU answers). "
             "Default: the library default, 'auto' unless CIM_EMU_BACKEND says otherwise.",
    )(command)


def seed_option(command: Callable) -> Callable:
    """``--seed S``: the key of every random draw (data and faults)."""
    return click.option(
        "--seed", metavar="S", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
        help="Seed of every random draw (input rows and faults), 0 <= S < 2**64.",
    )(command)


def open_backend(name: Optional[str]) -> Backend:
    """The backend named by ``--backend``; a missing GPU is a usage error (exit status 2)."""
    try:
        return get_backend(name)
    except BackendUnavailableError as exc:
        raise click.BadParameter(str(exc), param_hint="'--backend'") from None
