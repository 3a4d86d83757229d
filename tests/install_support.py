"""A newcomer's machine: the package built as a wheel and installed in a fresh virtual environment, a home folder
outside the temp dir, and an environment with no key and no PLAYGROUND_HOME."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import site
import subprocess
import sys
import tempfile
import venv
import zlib
from dataclasses import dataclass
from pathlib import Path

from support import Unpackable, exclusive, run_process

ROOT = Path(__file__).resolve().parent.parent
# Variables a newcomer does not have (the tests' own and the API's).
NOT_A_NEWCOMERS = ("PLAYGROUND_HOME", "WAVESPEED_API_KEY", "WAVESPEED_BASE_URL", "PYTHONPATH", "XDG_DATA_HOME",
                   "PLAYGROUND_PUBLIC", "SPACE_ID", "GRADIO_SERVER_PORT", "GRADIO_SERVER_NAME", "VIRTUAL_ENV",
                   "GRADIO_TEMP_DIR")


# The newcomer homes this process made, removed at the end of the run (conftest's pytest_unconfigure, or atexit).
HOMES: list[Path] = []


def newcomer_home() -> Path:
    """A new, empty home folder that is neither under the temp dir nor under the checkout (Gradio serves files
    from both without asking, which is how the tests once hid a broken page); removed at the end of the run."""
    for parent in ("/var/tmp", str(Path.home())):
        if os.access(parent, os.W_OK):
            home = Path(tempfile.mkdtemp(prefix="seedance-newcomer-", dir=parent))
            break
    else:  # pragma: no cover - every machine here has one of them
        raise RuntimeError("no writable folder outside the temp dir")
    HOMES.append(home)
    assert not home.resolve().is_relative_to(Path(tempfile.gettempdir()).resolve())
    assert not home.resolve().is_relative_to(ROOT)
    return home


def remove_newcomer_homes() -> None:
    """Remove every newcomer home this process made."""
    while HOMES:
        shutil.rmtree(HOMES.pop(), ignore_errors=True)


atexit.register(remove_newcomer_homes)


def newcomer_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_NEWCOMERS}
    env.update(HOME=str(home), **extra)
    return env


@dataclass
class Venv:
    """A virtual environment with the package installed from a built wheel (``wheel``, when known)."""

    path: Path
    wheel: Path | None = None

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def run(self, *args: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**env, "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '')}"}
        return run_process(list(args), cwd=cwd, env=env, timeout=timeout)


# pip builds in the checkout (build/, *.egg-info): one build at a time per checkout, across pytest-xdist workers.
CHECKOUT_LOCK = f"build-{zlib.crc32(str(ROOT).encode()):08x}"


@dataclass
class InstalledUser(Unpackable):
    """A user who installed the package: a working folder, their environment, and the venv on their PATH."""

    folder: Path
    env: dict[str, str]
    venv: Venv


def build_wheel(dest: Path) -> Path:
    """``pip wheel`` of the checkout, as a user would build it; returns the wheel's path."""
    with exclusive(CHECKOUT_LOCK):
        built = run_process([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dest), str(ROOT)],
                            timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = dest.glob("seedance_playground-*.whl")
    return wheel


def make_venv(where: Path, *requirements: str, editable: bool = False, isolated_build: bool = True) -> Venv:
    """A fresh venv that sees this interpreter's packages (so no download is needed for the dependencies) and has
    ``requirements`` installed into it by pip, with their dependencies checked.

    ``isolated_build`` False builds a source with the setuptools this interpreter has (requirements-dev.txt), not
    in a throwaway environment of its own: ~10 CPU-s less per build. The wheel's build stays isolated (as a user's
    is), so the build requirements declared in pyproject.toml are still proven once per run."""
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(where)
    env = Venv(where)
    see_this_interpreters_packages(env)
    cmd = [env.python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if not isolated_build:
        cmd.append("--no-build-isolation")
    cmd += ["-e", *requirements] if editable else list(requirements)
    with exclusive(CHECKOUT_LOCK) if editable else contextlib.nullcontext():
        done = run_process(cmd, timeout=600)
    assert done.returncode == 0, done.stderr
    if not editable:
        # pip skips a wheel whose name and version it already sees (an editable checkout in the interpreter this venv
        # sees): put the wheel's own files in the venv, where they come first.
        done = run_process([*cmd, "--no-deps", "--force-reinstall", *requirements], timeout=600)
        assert done.returncode == 0, done.stderr
    return env


def see_this_interpreters_packages(env: Venv) -> None:
    """Let ``env`` see this interpreter's packages when this interpreter is itself a venv: a venv made with system
    site packages sees only the base interpreter's, not those of the venv that made it (the README's SDK example and
    the notebooks' kernels need wavespeed and ipykernel from it). Its own packages still come first."""
    if sys.prefix == sys.base_prefix:
        return
    own = env.path / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    # Plain paths in a .pth file: the other venv's own .pth files (an editable checkout) are not run.
    (own / "seeing-the-parent-venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")


def shared_installed_venv(tmp_path_factory) -> Venv:
    """A venv with the package installed from a freshly built wheel, made once per test run: the first pytest-xdist
    worker to ask builds it under the run's common temp folder, the others wait for it and reuse it."""
    from support import worker_id

    base = tmp_path_factory.getbasetemp()
    root = base.parent if worker_id() != "master" else base
    where, done = root / "shared-venv-wheel", root / "shared-venv-wheel.done"
    with exclusive(f"venv-{zlib.crc32(str(root).encode()):08x}"):
        if not done.exists():
            wheel = build_wheel(Path(tempfile.mkdtemp(prefix="dist-", dir=root)))
            make_venv(where, str(wheel))
            done.write_text(str(wheel))
    return Venv(where, Path(done.read_text()))
