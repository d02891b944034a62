"""Entry for `python -m mox` and `python mox.pyz ...`."""

from mox.cli import main

if __name__ == "__main__":
    main()
