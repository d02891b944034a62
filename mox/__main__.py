"""Entry for `python -m mox` and `python mox.pyz ...`.

In a built pyz, `mox/_target.py` (written by build.py) names the platform and the CPython versions
the archive carries native extensions for. We check them here, before anything imports a native
module, so that a pyz for another platform fails with one clear line instead of an ImportError deep
inside msgspec or cryptography. Running from source there is no `_target.py` and no check.
"""

import sys


def main() -> None:
    try:
        from mox import _target
    except ImportError:
        _target = None
    if _target is not None:
        from mox._bootstrap import target_mismatch

        problem = target_mismatch(_target.TARGET)
        if problem:
            sys.stderr.write(problem + "\n")
            sys.exit(2)

    from mox.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
