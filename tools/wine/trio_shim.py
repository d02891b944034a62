"""Test-only runner for a mox pyz under wine: `python.exe trio_shim.py mox.pyz ARGS...`.

wine 8 answers WSAIoctl(SIO_BSP_HANDLE_SELECT), which trio's Windows IO manager calls at start-up,
with WSAEOPNOTSUPP (10045). Real Windows implements it. This runner patches
trio._core._io_windows right after it is imported (from the pyz's extracted site-packages) so that
a 10045 for that ioctl is answered with SIO_BASE_HANDLE, which wine implements, then runs the pyz
as `python.exe mox.pyz ARGS...` would. Never shipped in a pyz.

It also hides the `_wmi` module: wine 8 aborts the process when `platform` queries WMI
(propsys.VariantToString is unimplemented); without `_wmi`, `platform` uses its documented
fallbacks (environment variables and the Windows API version calls).
"""

import importlib.abc
import importlib.util
import runpy
import sys

WSAEOPNOTSUPP = 10045
MODULE = "trio._core._io_windows"


def _patch(module):
    original = module._get_underlying_socket
    base = module.WSAIoctls.SIO_BASE_HANDLE

    def get_underlying_socket(sock, *, which=base):
        try:
            return original(sock, which=which)
        except OSError as e:
            if getattr(e, "winerror", None) != WSAEOPNOTSUPP or which == base:
                raise
            return original(sock, which=base)

    module._get_underlying_socket = get_underlying_socket


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: python trio_shim.py mox.pyz [args...]\n")
        sys.exit(2)
    sys.modules["_wmi"] = None  # makes `import _wmi` fail; see the module docstring
    sys.meta_path.insert(0, _PatchOnImport())
    pyz = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(pyz, run_name="__main__")


if __name__ == "__main__":
    main()
