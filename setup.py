"""Packaging for cim-emu: a bit-exact functional emulator of compute-in-memory hardware."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
version_ns: dict = {}
exec((HERE / "cim_emu" / "_version.py").read_text(), version_ns)

setup(
    name="cim-emu",
    version=version_ns["__version__"],
    description=(
        "Bit-exact functional emulator of compute-in-memory hardware: "
        "Ambit-style DRAM logic and ReRAM analog crossbars, on numpy or CuPy."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.9",
    packages=find_packages(include=["cim_emu", "cim_emu.*"]) + ["cim_emu.kernels"],
    # CUDA sources live in the top-level kernels/ folder (where nvcc compiles them on their
    # own) and are installed inside the package as cim_emu.kernels.
    package_dir={"cim_emu.kernels": "kernels"},
    package_data={"cim_emu.kernels": ["*.cu", "*.cuh", "*.h", "*.cpp", "README.md"]},
    # tomli reads TOML sweep specs before Python 3.11 (which has tomllib).
    install_requires=["numpy>=1.22", "click>=8.0", "threadpoolctl>=3", "tomli>=1.1; python_version<'3.11'"],
    extras_require={
        # CuPy's wheels, one per CUDA major version (the driver's); "gpu" is CUDA 12's. Never
        # "cupy" itself: that is CuPy's source package, a long build that needs a CUDA toolkit.
        "gpu-cuda12": ["cupy-cuda12x>=13"],
        "gpu-cuda13": ["cupy-cuda13x>=13"],
        "gpu": ["cupy-cuda12x>=13"],
        # scikit-learn ships the digits dataset of `cim-emu accuracy`; matplotlib draws --plot;
        # torch (the CPU build in CI) runs cim_emu.nn and its tests.
        "data": ["scikit-learn>=1.0"],
        "plot": ["matplotlib>=3.5"],
        # Dask distributed runs `cim-emu sweep` (an embedded LocalCluster or an existing cluster).
        "sweep": ["dask[distributed]>=2024.1"],
        # SciPy's LAPACK solves IR drop (ReRAM wire resistance).
        "irdrop": ["scipy>=1.8"],
        # badcrossbar (the IR-drop tests' reference) is installed apart, by the README's test
        # command, with --no-deps: it requires pycairo for its plots, which pip would build
        # against a system cairo; its solver needs only numpy, scipy, pathvalidate and sigfig.
        "test": ["pytest>=7", "pytest-benchmark>=4", "hypothesis>=6", "scikit-learn>=1.0", "matplotlib>=3.5",
                 "dask[distributed]>=2024.1", "torch==2.13.0", "ruff==0.17.6", "mypy==2.4.1",
                 "scipy>=1.8", "pathvalidate>=2", "sigfig>=1.1"],
        "torch": ["torch==2.13.0"],
    },
    entry_points={"console_scripts": ["cim-emu = cim_emu.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: BSD License",
        "Topic :: Scientific/Engineering",
        "Intended Audience :: Science/Research",
    ],
)
