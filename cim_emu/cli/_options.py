"""Options that several commands share: the backend to compute on, the seed of random draws, and the
configuration a study runs (``--config FILE`` / ``--preset NAME``)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Sequence

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


# -- --config FILE / --preset NAME ------------------------------------------------------------

#: The names ``--preset`` takes, by kind of configuration: ReRAM crossbar presets, device presets
#: (on the default crossbars) and Ambit TRA fault presets. Named here so that --help need not import
#: the engines; a test keeps them equal to :data:`cim_emu.sweep.presets.PRESET_KINDS`.
PRESET_NAMES = {
    "reram": ("default", "isaac", "prime"),
    "devices": ("ideal", "reram_wan2022", "pcm_joshi2020", "stuck_cells_chen2015", "generic_reram"),
    "ambit": ("none", "ambit_spice_10", "ambit_spice_15", "ambit_spice_20", "ambit_spice_25", "simra_ddr4_maj3"),
}

#: Each kind of configuration: what it is, what its file holds, and the preset kinds that give it.
CONFIG_KINDS = {
    "reram": ("a ReRAM configuration", "ReramConfig JSON: sections crossbar, mapping, inputs, adc, devices, wires",
              ("reram", "devices")),
    "ambit": ("an Ambit TRA fault model", "JSON fields flip_probability, only_when_inputs_disagree, "
              "weak_column_fraction, weak_column_flip_probability", ("ambit",)),
}


def _kinds_text(kinds: Sequence[str], detail: bool = False) -> str:
    """``"a ReRAM configuration or an Ambit TRA fault model"``, with what their files hold when ``detail``."""
    return " or ".join(f"{CONFIG_KINDS[k][0]} ({CONFIG_KINDS[k][1]})" if detail else CONFIG_KINDS[k][0]
                       for k in kinds)


def preset_names(kinds: Sequence[str]) -> tuple:
    """The ``--preset`` names that give a configuration of one of ``kinds``."""
    return tuple(name for kind in kinds for preset_kind in CONFIG_KINDS[kind][2] for name in PRESET_NAMES[preset_kind])


def config_options(kinds: Sequence[str], use: str) -> Callable[[Callable], Callable]:
    """``--config FILE`` and ``--preset NAME``: a configuration of one of ``kinds`` (``"reram"``,
    ``"ambit"``) that the command ``use``-s (a phrase: "measure it in place of ..."). The command
    takes ``config_file`` and ``preset`` and passes them to :func:`resolve_config`."""
    presets = "; ".join(f"{preset_kind}: {', '.join(PRESET_NAMES[preset_kind])}"
                        for kind in kinds for preset_kind in CONFIG_KINDS[kind][2])

    def decorate(command: Callable) -> Callable:
        command = click.option(
            "--preset", metavar="NAME", default=None,
            help=f"A named configuration, in place of --config FILE ({presets}).")(command)
        return click.option("--config", "config_file", metavar="FILE", default=None,
                            type=click.Path(exists=True, dir_okay=False),
                            help=f"A configuration file: {_kinds_text(kinds, detail=True)}; {use}.")(command)

    return decorate


def resolve_config(config_file: Optional[str], preset: Optional[str], kinds: Sequence[str],
                   command: str) -> Optional[Any]:
    """The :class:`~cim_emu.sweep.configured.Configured` of ``--config`` or ``--preset`` (``None``
    when neither was given), checked before any work: both given, an unknown preset, a bad file or
    a configuration of another kind than ``kinds`` is a usage error (exit status 2) naming the
    option, the file and the bad key, or the names allowed."""
    if config_file is None and preset is None:
        return None
    if config_file is not None and preset is not None:
        raise click.UsageError("--config and --preset both name the configuration; give one, not both")
    from ..sweep import SpecError, configured  # noqa: PLC0415 - keeps --help instant

    hint = "'--config'" if config_file is not None else "'--preset'"
    allowed = preset_names(kinds)
    if preset is not None and preset not in allowed:
        other = next((kind for kind, names in PRESET_NAMES.items() if preset in names), None)
        if other is None:
            raise click.BadParameter(f"unknown preset {preset!r}; presets: {', '.join(allowed)}", param_hint=hint)
        kind = "reram" if other == "devices" else other
        raise click.BadParameter(f"preset {preset!r} is {CONFIG_KINDS[kind][0]}, and cim-emu {command} takes "
                                 f"{_kinds_text(kinds)}; presets: {', '.join(allowed)}", param_hint=hint)
    try:
        resolved = configured.resolve(config_file, preset)
    except SpecError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None
    if resolved.kind not in kinds:
        raise click.BadParameter(f"{config_file} holds {CONFIG_KINDS[resolved.kind][0]}; cim-emu {command} takes "
                                 f"{_kinds_text(kinds, detail=True)}", param_hint=hint)
    return resolved


def configuration_record(resolved: Any, config_file: Optional[str], preset: Optional[str]) -> dict:
    """The JSON document's ``configuration``: ``kind``, ``preset`` (or ``None``), ``file`` (or
    ``None``) and ``content``, the configuration as parsed (a ReRAM configuration's sections,
    an Ambit fault model's fields; the model's seed is the run's)."""
    if resolved.kind == "reram":
        content = resolved.config.to_dict()
    else:  # every field, defaults filled in, as the run builds the model
        from ..ambit import TraFaultModel  # noqa: PLC0415

        model = TraFaultModel(**resolved.config)
        content = {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.name != "seed"}
    return {"kind": resolved.kind, "preset": preset, "file": config_file, "content": content}


def reject_with_config(option: str, config_file: Optional[str], preset: Optional[str], reason: str) -> None:
    """When --config or --preset was given, a usage error (exit status 2) naming ``option`` (an
    option that already names the configuration, or a choice that uses none) and it, and why."""
    if config_file is None and preset is None:
        return
    given = "--config" if config_file is not None else "--preset"
    raise click.UsageError(f"{option} and {given} cannot be combined: {reason}")
