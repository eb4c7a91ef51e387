"""A private virtualenv holding Prefect, the baseline the SDK benchmark compares against.

Prefect is never a project dependency: it is installed here, once, under
~/.cache/kflow/bench/prefect-<version>, and reused by later benchmark runs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

PREFECT_VERSION = "3.9.1"
VENV_DIR = Path.home() / ".cache" / "kflow" / "bench" / f"prefect-{PREFECT_VERSION}"
_READY_MARKER = VENV_DIR / ".kflow-bench-ready"
_INSTALL_TIMEOUT_SECONDS = 900


def prefect_python() -> Path:
    """Return the interpreter of the Prefect virtualenv, creating it on first use."""
    python = VENV_DIR / "bin" / "python"
    if _READY_MARKER.is_file() and python.is_file():
        return python
    print(f"bench: installing prefect=={PREFECT_VERSION} into {VENV_DIR} (once)", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    _install_prefect(python)
    _READY_MARKER.write_text(PREFECT_VERSION + "\n")
    return python


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=_INSTALL_TIMEOUT_SECONDS,
        check=False,
    )


def _install_prefect(python: Path) -> None:
    direct = _pip(python, "install", "--quiet", f"prefect=={PREFECT_VERSION}")
    if direct.returncode == 0:
        return
    if "certifi" not in direct.stderr:
        raise RuntimeError(f"pip could not install prefect=={PREFECT_VERSION}:\n{direct.stderr}")
    # Prefect pins a certifi newer than the index may carry. Its other requirements are
    # installed as declared, certifi at the newest version the index has, then Prefect
    # itself without dependency resolution.
    with tempfile.TemporaryDirectory() as download_dir:
        _check(
            _pip(
                python,
                "download",
                "--quiet",
                "--no-deps",
                "-d",
                download_dir,
                f"prefect=={PREFECT_VERSION}",
            )
        )
        wheel = next(Path(download_dir).glob("prefect-*.whl"))
        requirements = Path(download_dir) / "requirements.txt"
        requirements.write_text("\n".join(_requirements_with_newest_certifi(wheel)) + "\n")
        _check(_pip(python, "install", "--quiet", "-r", str(requirements)))
        _check(_pip(python, "install", "--quiet", "--no-deps", str(wheel)))


def _requirements_with_newest_certifi(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
    requirements = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        requirement = line.removeprefix("Requires-Dist:").strip()
        if "extra ==" in requirement:
            continue
        if requirement.split(";")[0].strip().startswith("certifi"):
            requirement = "certifi"
        requirements.append(requirement)
    return requirements


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"pip failed ({' '.join(result.args)}):\n{result.stderr}")
