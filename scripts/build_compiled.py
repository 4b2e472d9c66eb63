"""Compile the gateway's hot modules into C extensions with mypyc, next to their sources.

Usage: .venv/bin/python scripts/build_compiled.py [--clean]

The modules are listed in scripts/compiled-modules.txt. Each extension lands beside its .py
file (src/apiward/.../name.cpython-*.so), where Python's import system prefers it to the
source. ``make`` rebuilds them whenever a listed source changes, and the test suite refuses to
run with an extension older than its source. ``--clean`` removes the extensions, so the pure
Python sources run again.
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE_LIST = ROOT / "scripts" / "compiled-modules.txt"
BUILD_DIR = ROOT / "build" / "mypyc"
MAKE_STAMP = ROOT / ".venv" / ".compiled"
"""The file make touches after a build (the Makefile's COMPILED)."""


def listed_sources() -> list[Path]:
    """Return the sources named in the module list, relative to the repository root."""
    lines = MODULE_LIST.read_text().splitlines()
    return [Path(line.strip()) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def extension_paths() -> list[Path]:
    """Return every compiled extension under src/, including mypyc's shared runtime library."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return sorted((ROOT / "src").rglob(f"*{suffix}"))


def clean() -> None:
    """Remove the extensions, and make's record of the last build so that make rebuilds them."""
    extensions = extension_paths()
    for path in extensions:
        path.unlink()
    MAKE_STAMP.unlink(missing_ok=True)
    if extensions:
        print(f"removed {len(extensions)} compiled extensions")


def build() -> None:
    from mypyc.build import mypycify
    from setuptools import Distribution

    sources = listed_sources()
    missing = [str(path) for path in sources if not (ROOT / path).is_file()]
    if missing:
        sys.exit(f"{MODULE_LIST.name} names files that do not exist: {', '.join(missing)}")
    clean()
    os.chdir(ROOT)
    # The repository's mypy settings (pyproject.toml) apply, so the build type-checks the same
    # way `make typecheck` does. One group, so calls between the modules stay native.
    extensions = mypycify([str(path) for path in sources], opt_level="3", group_name="apiward_hot")
    # A bare Distribution, not setup(): setup() would also read pyproject.toml's [project].
    distribution = Distribution({"name": "apiward-compiled", "package_dir": {"": "src"},
                                 "ext_modules": extensions})
    distribution.script_args = ["--quiet", "build_ext", "--inplace", "--build-temp",
                                str(BUILD_DIR / "temp"), "--build-lib", str(BUILD_DIR / "lib")]
    distribution.parse_command_line()
    distribution.run_commands()
    # build_ext copies each extension with the time it was last linked, which is older than a
    # source whose change left the generated C as it was. Mark them as built now.
    for path in extension_paths():
        os.utime(path)
    print(f"compiled {len(sources)} modules")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clean", action="store_true", help="remove the compiled extensions")
    args = parser.parse_args()
    if args.clean:
        clean()
    else:
        build()


if __name__ == "__main__":
    main()
