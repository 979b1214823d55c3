"""Sweeps: a study run over a grid or random sample of its parameters and seeds, on Dask, into SQLite.

``cim-emu sweep SPEC`` and :func:`sweep` run a spec (a TOML or JSON file, or a dict;
:mod:`~cim_emu.sweep.spec`) of a registered study (:mod:`~cim_emu.sweep.studies`) or a user's
``module:function``; each point (configuration and seed) is a task of an embedded Dask
``LocalCluster``, of an existing cluster, or of a serial loop (:mod:`~cim_emu.sweep.runner`), and
lands as one row of an SQLite database (:mod:`~cim_emu.sweep.store`); running the spec again
runs only the points missing. :mod:`~cim_emu.sweep.report` exports the rows and plots a metric
against a parameter. ``docs/sweep.md`` is the full description.

Dask is imported only when a sweep runs on it (``pip install 'cim-emu[sweep]'``).

* :mod:`~cim_emu.sweep.params` — a study's parameters and their checks;
* :mod:`~cim_emu.sweep.presets` — named ReRAM, device and Ambit fault configurations, config files;
* :mod:`~cim_emu.sweep.configured` — a configuration checked as ``cim-emu accuracy --config/--preset`` does;
* :mod:`~cim_emu.sweep.engines`, :mod:`~cim_emu.sweep.applications` — the registered studies;
* :mod:`~cim_emu.sweep.studies` — the registry and one point's run;
* :mod:`~cim_emu.sweep.spec` — reading, checking and expanding a spec;
* :mod:`~cim_emu.sweep.store` — the database;
* :mod:`~cim_emu.sweep.runner` — serial and Dask execution, resume;
* :mod:`~cim_emu.sweep.report` — CSV/JSON export and the plot.
"""

from .params import Param, SpecError
from .runner import SweepSummary, run_sweep, sweep
from .spec import Point, Spec, load_spec
from .store import Store
from .studies import STUDIES, Study, get_study, run_point

__all__ = ["Param", "Point", "STUDIES", "Spec", "SpecError", "Store", "Study", "SweepSummary", "get_study",
           "load_spec", "run_point", "run_sweep", "sweep"]
