"""The GitHub workflows (they cannot run here): valid by the GitHub workflow JSON schema that
check-jsonschema ships (no network), and saying what README promises: CI runs the suite and the
pyz smoke test on Linux, Windows and macOS with CPython 3.11-3.14; a version tag publishes every
target's pyz and SHA256SUMS, at the release URLs README's download instructions use."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"

with open(ROOT / "pyproject.toml", "rb") as _f:
    REPOSITORY = tomllib.load(_f)["project"]["urls"]["Repository"]


def _load(name: str) -> dict:
    return YAML(typ="safe").load((WORKFLOWS / name).read_text("utf-8"))


def _build():
    from tests.test_build import build

    return build


def _runs(job: dict) -> list[str]:
    return [" ".join(step["run"].split()) for step in job["steps"] if "run" in step]


def test_workflows_are_valid_by_the_github_workflow_schema():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert [Path(f).name for f in files] == ["ci.yml", "release.yml"]
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    step: []\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(bad)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_ci_matrix_runs_suite_and_pyz_smoke_on_three_systems_and_every_python():
    ci = _load("ci.yml")
    assert set(ci["on"]) >= {"push", "pull_request"}
    (job,) = ci["jobs"].values()
    matrix = job["strategy"]["matrix"]
    assert matrix["os"] == ["ubuntu-latest", "windows-latest", "macos-latest"]
    assert matrix["python"] == list(_build().PYVERS) == ["3.11", "3.12", "3.13", "3.14"]
    assert job["runs-on"] == "${{ matrix.os }}"
    (setup,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"]["python-version"] == "${{ matrix.python }}"
    # The README's whole-suite command, in two steps: the suite, then the slow tests (the pyz built
    # for the runner's platform and a localserve round trip from it on the matrix CPython).
    runs = _runs(job)
    assert 'python -m pip install -e ".[test]"' in runs
    assert "python -m mypy" in runs  # the type check, as `just typecheck` and .ci/run
    assert runs[-2:] == ["python -m pytest -q", "python -m pytest -q -m slow"]


def test_release_builds_every_target_on_a_tag_and_attaches_pyz_files_and_sums():
    rel = _load("release.yml")
    assert rel["on"] == {"push": {"tags": ["v*"]}}
    assert rel["permissions"] == {"contents": "write"}
    (job,) = rel["jobs"].values()
    runs = _runs(job)
    assert 'python build.py --all --rev "$GITHUB_SHA"' in runs
    assert "cd dist && sha256sum -c SHA256SUMS" in runs
    (publish,) = [r for r in runs if r.startswith("gh release create")]
    assert publish.split()[3:6] == ['"$GITHUB_REF_NAME"', "dist/mox-*.pyz", "dist/SHA256SUMS"]
    # Every target's file is what `dist/mox-*.pyz` matches, and SHA256SUMS lists exactly those.
    names = sorted(f"mox-{t}.pyz" for t in _build().TARGETS)
    assert names == ["mox-linux-aarch64.pyz", "mox-linux-x86_64.pyz", "mox-macos-arm64.pyz", "mox-windows-x86_64.pyz"]


def test_readme_downloads_from_the_release_urls():
    readme = (ROOT / "README.md").read_text("utf-8")
    assert REPOSITORY == "https://github.com/mox-mail/mox-python"
    assert "example.org/mox" not in readme and "wherever" not in readme
    urls = re.findall(r"https://github\.com/mox-mail/[^\s\"'`)]+", readme)
    assert urls, "README names no release URL"
    assets = {f"mox-{t}.pyz" for t in _build().TARGETS} | {"SHA256SUMS", "<file>"}
    for url in urls:
        assert url.startswith(REPOSITORY), url
        rest = url[len(REPOSITORY):]
        assert rest == "" or re.fullmatch(r"/releases/(latest/download|download/vX\.Y\.Z)/(.+)", rest), url
        if rest:
            assert rest.rsplit("/", 1)[1] in assets, url
    # The CI snippet downloads the release asset.
    assert f"MOX_PYZ_URL: {REPOSITORY}/releases/latest/download/mox-linux-x86_64.pyz" in readme
