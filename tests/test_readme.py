"""Every command and code block of the README, run as written: the set-up commands, the Python examples with a
cat.png beside them, the command line, the gradio_client example against a running app, the official SDK against
`seedance-playground local --port 8000`, the papermill command and the benchmarks."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from install_support import ROOT, InstalledUser, newcomer_env, newcomer_home
from support import end, make_image, preferred_port, run_process, spawn

pytestmark = pytest.mark.slow

README = ROOT / "README.md"
# The local preview's protocol render (every clip one tiny valid MP4) for the examples whose tests look at what they
# print and write, not at the pictures in a clip: the renderer has its own tests (test_render.py).
PROTOCOL_RENDER = {"PLAYGROUND_LOCAL_RENDER": "protocol"}


def blocks(language: str) -> list[str]:
    """The README's fenced blocks in ``language``, in order."""
    return [m.group(1).strip() for m in re.finditer(rf"^```{language}\n(.*?)^```", README.read_text(), re.S | re.M)]


def commands(block: str) -> list[str]:
    """The command lines of a bash block, without their trailing comments."""
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


@contextlib.contextmanager
def serving(argv: str, *, cwd: Path, env: dict[str, str], url: str, timeout: float = 300) -> Iterator[None]:
    """Run a long-lived README command in the background until ``url`` answers; stop it afterwards."""
    log = Path(tempfile.mkstemp(prefix="readme-serve-", suffix=".log")[1])
    with open(log, "wb") as out:
        proc = spawn(["bash", "-c", f"exec {argv}" if "&&" not in argv else argv], cwd=cwd, env=env, stdout=out,
                     stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, f"{argv} stopped:\n{log.read_text()}"
            with contextlib.suppress(requests.ConnectionError):
                requests.get(url, timeout=2)
                break
            assert time.monotonic() < deadline, f"{argv} did not answer at {url}:\n{log.read_text()}"
            time.sleep(0.3)
        yield
    finally:
        end(proc)
        log.unlink(missing_ok=True)


def run(argv: list[str] | str, *, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = run_process(["/bin/bash", "-c", argv] if isinstance(argv, str) else argv, cwd=cwd, env=env,
                       timeout=timeout)
    assert done.returncode == 0, f"{argv!r} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def user(installed_venv, tmp_path_factory):
    """A user who installed the package: a folder with cat.png in it, an ordinary home, no key."""
    home = newcomer_home()
    folder = tmp_path_factory.mktemp("user")
    make_image(folder / "cat.png", (1024, 768))
    env = newcomer_env(home, **PROTOCOL_RENDER)
    env["PATH"] = f"{installed_venv.bin}{os.pathsep}{env['PATH']}"
    return InstalledUser(folder, env, installed_venv)


def test_the_readme_has_exactly_the_blocks_this_file_runs():
    assert len(blocks("bash")) == 5 and len(blocks("python")) == 5
    assert len(re.findall(r"^```\w+$", README.read_text(), re.M)) == 10


def test_the_python_example_makes_a_video(user):
    folder, env, venv = user
    env = {k: v for k, v in env.items() if k not in PROTOCOL_RENDER}  # this one looks at the video: a real render
    out = run([venv.python, "-c", blocks("python")[0]], cwd=folder, env=env)
    path, seed, request_id, cost = out.split()
    assert Path(path).is_file() and Path(path).stat().st_size > 10_000
    assert int(seed) >= 0 and request_id and float(cost) == pytest.approx(0.048)


def test_the_command_line_block_and_the_sdk_against_the_local_api(user):
    folder, env, venv = user
    lines = commands(blocks("bash")[2])
    local = lines.pop()
    assert local == "seedance-playground local --port 8000"
    ui = lines.pop()
    assert ui == "seedance-playground ui"
    outputs = {line: run(line, cwd=folder, env=env) for line in lines}
    assert outputs[lines[1]].strip().startswith("$1.04")
    assert "1080p" in outputs[lines[2]] and "seed" in outputs[lines[3]]
    assert outputs[lines[0]].strip().splitlines()[0].endswith(".mp4")

    with preferred_port(8000) as port:
        local = local.replace("8000", str(port))
        sdk = blocks("python")[2].replace(":8000", f":{port}")
        with serving(local, cwd=folder, env=env, url=f"http://127.0.0.1:{port}/"):
            video_url = run([venv.python, "-c", sdk], cwd=folder, env=env).strip()
            assert video_url.startswith(f"http://127.0.0.1:{port}/") and video_url.endswith(".mp4")
            assert requests.get(video_url, timeout=30).content[4:8] == b"ftyp"


def test_the_set_up_commands_serve_the_page_and_the_gradio_client_example_runs_against_it(user):
    """The README's first command, run as written in the checkout with a newcomer's environment, then its
    gradio_client example against that app (one app start for both: starting gradio is the costly part)."""
    start, run_tests = blocks("bash")[:2]
    assert run_tests == "bash tests/run.sh"
    assert "bash tests/run.sh" in (ROOT / ".ci" / "run").read_text()
    assert start == "pip install -r requirements.txt && python app.py"
    folder, env, venv = user
    code = blocks("python")[1]
    assert 'Client("http://127.0.0.1:7860/")' in code
    with preferred_port(7860) as port:
        app_env = newcomer_env(newcomer_home(), **PROTOCOL_RENDER,
                               **({} if port == 7860 else {"GRADIO_SERVER_PORT": str(port)}))
        url = f"http://127.0.0.1:{port}/"
        with serving(start, cwd=ROOT, env=app_env, url=url, timeout=600):
            page = requests.get(url, timeout=30)
            assert page.ok and "Seedance" in page.text
            lines = run([venv.python, "-c", code.replace("http://127.0.0.1:7860/", url)], cwd=folder,
                        env=env).strip().splitlines()
    assert float(lines[-3]) == pytest.approx(0.048)
    video, seed, request_id, cost = lines[-2].split()
    assert video.endswith(".mp4") and int(seed) >= 0 and request_id and float(cost) == pytest.approx(0.048)
    final, final_seed, draft_of, tiled, sheet, count = lines[-1].split()
    assert final.endswith(".mp4") and final_seed == seed and int(draft_of) >= 1
    assert tiled.endswith(".mp4") and sheet.endswith(".png") and count == "2"


def test_the_sweep_example(user):
    folder, env, venv = user
    out = run([venv.python, "-c", blocks("python")[3]], cwd=folder, env=env, timeout=600)
    assert "4 jobs (480p, 4 s, audio on): $0.384 estimated" in out
    assert (folder / "sheet.png").is_file() and (folder / "all.mp4").is_file()


def test_the_papermill_command(tmp_path):
    (line,) = commands(blocks("bash")[3])
    env = newcomer_env(newcomer_home(), **PROTOCOL_RENDER)
    try:
        run(line, cwd=ROOT, env=env, timeout=600)
        out_dir = ROOT / "notebooks" / "seed_sweep_output"
        assert (out_dir / "contact_sheet.png").is_file() and (out_dir / "side_by_side.mp4").is_file()
    finally:
        import shutil

        shutil.rmtree(ROOT / "notebooks" / "seed_sweep_output", ignore_errors=True)
        (ROOT / "notebooks" / "out_seed_sweep.ipynb").unlink(missing_ok=True)


@pytest.mark.parametrize("index", range(5))
def test_the_benchmark_commands(index):
    line = commands(blocks("bash")[4])[index]
    env = newcomer_env(newcomer_home())
    done = run_process(["/bin/bash", "-c", line], cwd=ROOT, env=env, timeout=600)
    # Exit 1 is a benchmark's verdict (a target missed on a busy shared machine), printed with its figures.
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert re.search(r"ratio|x real|/ ideal|wall", done.stdout), done.stdout[-3000:]


def test_the_webhook_verifier_example_accepts_a_signed_delivery_and_refuses_a_forged_one():
    """The README's receiver, as written, fed deliveries signed with its SECRET (and one forged)."""
    import json
    import uuid

    from fastapi.testclient import TestClient

    from playground.webhooks import sign

    namespace: dict = {}
    exec(blocks("python")[4], namespace)
    app, secret = namespace["app"], namespace["SECRET"]
    body = json.dumps({"id": "task-1", "status": "completed", "outputs": ["https://cdn.example/v.mp4"]}).encode()
    webhook_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp), "content-type": "application/json"}
    with TestClient(app) as client:
        good = client.post("/webhooks/wavespeed", content=body,
                           headers={**headers, "webhook-signature": sign(secret, webhook_id, timestamp, body)})
        forged = client.post("/webhooks/wavespeed", content=body,
                             headers={**headers, "webhook-signature": sign("whsec_other", webhook_id, timestamp, body)})
    assert (good.status_code, good.json()) == (200, {"ok": True})
    assert forged.status_code == 401
