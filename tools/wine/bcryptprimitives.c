/* Test-only stand-in for Windows' bcryptprimitives.dll, which wine 8 lacks.
 *
 * cryptography's _rust.pyd imports ProcessPrng from it (the Rust standard library gets its
 * randomness there). This forwards to RtlGenRandom (advapi32's SystemFunction036), which wine
 * implements. Built by tools/wine/smoke.sh with mingw; never shipped in a pyz. */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    return TRUE;
}
