"""Studies: the emulator measured against exact references and native baselines.

What ``cim-emu accuracy`` and ``cim-emu bench`` run, and what the benchmark suites of
``bench/`` and the scripts of ``scripts/`` call, so that every check and measurement is
written once. None of them is imported by the engines; each module imports only what it
needs when it is imported (torch and scikit-learn only when a function asks for them).

* :mod:`~cim_emu.studies.accuracy_sections` — the sections of ``cim-emu accuracy``, the sizes
  they run at and the gathering of their checks (``checks``), shared with the sweeps' ``accuracy``
  study;
* :mod:`~cim_emu.studies.ambit_accuracy` — Ambit library operations against numpy's bitwise
  result, and the TRA fault model's measured flip rate (``ambit-library``, ``ambit-fault-rate``);
* :mod:`~cim_emu.studies.realchip_characterisation` — SiMRA's and FCDRAM's methodology on the
  real-chip mode of the Ambit engine, against the published success rates (``realchip``);
* :mod:`~cim_emu.studies.ir_drop` — IR drop against wire resistance and tile size (products, the
  digits CNN) and its cost (``scripts/ir_drop_study.py``, ``bench/test_reram_ir_drop.py``);
* :mod:`~cim_emu.studies.reram_accuracy` — ReRAM products against the exact integer product,
  lossless and across ADC resolutions and device models (``reram-exact``, ``reram-adc-sweep``);
* :mod:`~cim_emu.studies.digits_mlp` — a 64-32-10 MLP on scikit-learn's digits in float, 8-bit
  digital and on crossbars (``reram-digits``; needs the ``data`` extra);
* :mod:`~cim_emu.studies.digits_cnn` — a small CNN on the same digits converted to crossbar
  layers by :mod:`cim_emu.nn` (``torch-digits-cnn``, ``scripts/digits_cnn.py``; needs the
  ``torch`` and ``data`` extras);
* :mod:`~cim_emu.studies.benchmarks` — emulator throughput against the backend's native
  operation beside the modelled hardware (``cim-emu bench`` and ``bench/``);
* :mod:`~cim_emu.studies.timing` — how every benchmark is timed: interleaved rounds, medians,
  pinned threads, and a floor below which a ratio is implausible;
* :mod:`~cim_emu.studies.models` — a CIFAR-style ResNet-18 and a transformer block (needs the
  ``torch`` extra);
* :mod:`~cim_emu.studies.model_benchmarks` — those models on crossbars against the float model
  (``cim-emu bench --engine models``, ``bench/test_models.py``).
"""
