"""Entry for `python -m mox` and `python mox.pyz ...`.

In a built pyz, `mox/_target.py` (written by build.py) names the platform and the CPython versions
the archive carries native extensions for. We check them here, before anything imports a native
module, so that a pyz for another platform fails with one clear line instead of an ImportError deep
inside msgspec or cryptography. Running from source there is no `_target.py` and no check.
"""

import importlib
import importlib.util
import sys


def main() -> None:
    if importlib.util.find_spec("mox._target") is not None:  # a built pyz (build.py writes it)
        from mox._bootstrap import target_mismatch

        problem = target_mismatch(importlib.import_module("mox._target").TARGET)
        if problem:
            sys.stderr.write(problem + "\n")
            sys.exit(2)

    from mox.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
