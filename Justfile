# Development tasks; see README.md.

# Run localserve from the source tree (config in the user config dir).
run *ARGS:
    .venv/bin/mox localserve {{ARGS}}

# The test suite without the slow tests; `just test --slow` runs all of it, as CI does (README).
test *ARGS:
    .venv/bin/python -m pytest -q {{ARGS}}

# The type check: mypy over mox/, strict on the protocol packages ([tool.mypy] in pyproject.toml).
typecheck *ARGS:
    .venv/bin/python -m mypy {{ARGS}}

# The long parser fuzzing runs (100,000 examples per parser; MOX_FUZZ_EXAMPLES=n for another count).
fuzz *ARGS:
    .venv/bin/python -m pytest -q -m fuzz tests/fuzz {{ARGS}}

# Build the one-file archive dist/mox.pyz.
build *ARGS:
    python3 build.py {{ARGS}}

# Benchmarks.
bench *ARGS:
    python3 bench/run.py {{ARGS}}

# Tests on Windows (delegates to the packaging script when present).
test-windows *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -f tools/wine/smoke.sh ]; then exec bash tools/wine/smoke.sh {{ARGS}}; fi
    if [ -x .ci/test-windows ]; then exec .ci/test-windows {{ARGS}}; fi
    echo "no Windows test script yet (.ci/test-windows)" >&2
    exit 1
