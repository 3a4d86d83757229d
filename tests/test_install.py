"""The package as a user installs it: a wheel, an editable install and a git URL, each in a fresh virtual
environment, used from a folder outside the checkout."""

from __future__ import annotations

import json

import pytest
from install_support import ROOT, make_venv, newcomer_env, newcomer_home
from support import run_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(installed_venv):
    """The wheel the shared venv was installed from (built once per run by ``pip wheel`` of the checkout)."""
    return installed_venv.wheel


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A working folder outside the checkout, and a newcomer's environment."""
    home = newcomer_home()
    return tmp_path_factory.mktemp("elsewhere"), newcomer_env(home)


def test_the_wheel_holds_only_the_package_and_its_samples(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("seedance_playground-")}
    assert tops == {"playground"}
    assert {f"playground/samples/{s}" for s in ("sunset_beach.jpg", "koi_pond.jpg")} <= set(names)
    assert "playground/local/server.py" in names and "playground/ui/__init__.py" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "seedance-playground = playground.__main__:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_an_installed_wheel_works_from_outside_the_checkout(installed_venv, outside):
    cwd, env = outside
    venv = installed_venv

    helped = venv.run("seedance-playground", "--help", cwd=cwd, env=env)
    assert helped.returncode == 0, helped.stderr
    for command in ("generate", "resume", "history", "price", "balance", "local", "ui"):
        assert command in helped.stdout

    priced = venv.run("seedance-playground", "price", "--resolution", "480p", "--duration", "5", cwd=cwd, env=env)
    assert priced.returncode == 0, priced.stderr
    assert priced.stdout.strip().startswith("$0.12")

    where = venv.run(venv.python, "-c", "import json, playground; from playground import generate, resume, Client, "
                     "seed_sweep, grid_sweep, estimate_sweep, quote, price_table, SPICY, ValidationError; "
                     "from playground.ui import SAMPLES_DIR; "
                     "print(json.dumps([playground.__file__, str(SAMPLES_DIR), "
                     "sorted(p.name for p in SAMPLES_DIR.glob('*.jpg'))]))", cwd=cwd, env=env)
    assert where.returncode == 0, where.stderr
    module, samples, pictures = json.loads(where.stdout)
    assert module.startswith(str(venv.path)) and samples.startswith(str(venv.path))
    assert len(pictures) == 4


def test_the_installed_venv_sees_this_interpreters_packages_even_from_inside_a_virtualenv(installed_venv, outside):
    """The README's SDK example and the notebooks' kernels run on the installed venv's python: it must see the
    packages of the interpreter running the tests (wavespeed, ipykernel), a virtualenv's as well as a system one's."""
    import site

    cwd, env = outside
    probe = installed_venv.run(installed_venv.python, "-c", "import json, sys, wavespeed, ipykernel; "
                               "print(json.dumps(sys.path))", cwd=cwd, env=env)
    assert probe.returncode == 0, probe.stderr
    assert set(site.getsitepackages()) <= set(json.loads(probe.stdout))


def test_import_playground_is_light(installed_venv, outside):
    cwd, env = outside
    venv = installed_venv
    probe = venv.run(venv.python, "-c", "import sys, playground; playground.quote; "
                     "print(sorted(m for m in ('gradio', 'pandas', 'requests') if m in sys.modules))",
                     cwd=cwd, env=env)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


def test_an_editable_install_and_a_git_url_install_work(outside, tmp_path_factory):
    cwd, env = outside
    editable = make_venv(tmp_path_factory.mktemp("venv-editable"), str(ROOT), editable=True, isolated_build=False)
    out = editable.run("seedance-playground", "price", "--resolution", "1080p", "--duration", "10", cwd=cwd, env=env)
    assert out.returncode == 0 and out.stdout.startswith("$1.04"), out.stderr

    # A git URL installs what is committed: clone the checkout's HEAD so the test does not depend on local edits.
    clone = tmp_path_factory.mktemp("repo") / "seedance"
    assert run_process(["git", "clone", "-q", str(ROOT), str(clone)], timeout=300).returncode == 0
    from_git = make_venv(tmp_path_factory.mktemp("venv-git"), f"git+file://{clone}", isolated_build=False)
    out = from_git.run(from_git.python, "-c", "import playground; print(playground.__file__)", cwd=cwd, env=env)
    assert out.returncode == 0 and out.stdout.startswith(str(from_git.path)), out.stderr
