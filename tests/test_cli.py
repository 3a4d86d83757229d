"""The CLI in real processes: generate with a progress bar, one-line errors, and resume after SIGKILL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playground.jobs import Ledger
from playground.local import LocalConfig, start_server
from playground.media import probe
from tests.support import KEY, make_image, run_process, spawn

ROOT = Path(__file__).resolve().parents[1]


def _env(home: Path, url: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAVESPEED_", "PLAYGROUND_"))}
    env["PLAYGROUND_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    if url:
        env["WAVESPEED_API_KEY"] = KEY
        env["WAVESPEED_BASE_URL"] = url
    return env


def _cli(*args, env, timeout=300):
    return run_process([sys.executable, "-m", "playground", *args], env=env, timeout=timeout, cwd=ROOT)


@pytest.fixture
def server(local_api_factory):
    return local_api_factory()


@pytest.mark.full_render
def test_generate_prints_the_video_seed_and_cost_then_history_lists_it(server, tmp_path):
    image = make_image(tmp_path / "in.png")
    env = _env(tmp_path / "home", server.url)
    done = _cli("generate", str(image), "--resolution", "480p", "--duration", "4", "--audio", "false",
                "--seed", "42", env=env)
    assert done.returncode == 0, done.stderr
    video = Path(done.stdout.splitlines()[0])
    assert probe(video).frames == 96
    assert "seed 42" in done.stdout and "$0.048" in done.stdout
    assert "done" in done.stderr  # the progress bar's last phase
    history = _cli("history", env=env)
    assert history.returncode == 0 and "completed" in history.stdout and "42" in history.stdout
    assert KEY not in done.stdout + done.stderr + history.stdout + history.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["generate", "{img}", "--duration", "3"], "duration: 3 is out of range"),
        (["generate", "{bad}"], "image: notes.txt is not an image"),
        (["generate", "{img}", "--aspect-ratio", "5:1"], "invalid choice"),
    ],
)
def test_user_errors_print_one_clear_line_and_no_traceback(server, tmp_path, args, words):
    image = make_image(tmp_path / "in.png")
    bad = tmp_path / "notes.txt"
    bad.write_text("not a picture")
    args = [a.format(img=image, bad=bad) for a in args]
    done = _cli(*args, env=_env(tmp_path / "home", server.url))
    assert done.returncode == 2
    assert words in done.stderr and "Traceback" not in done.stderr
    assert server.submits == 0


def test_price_needs_no_key_or_server(tmp_path):
    done = _cli("price", "--resolution", "1080p", "--duration", "10", env=_env(tmp_path / "home"))
    assert done.returncode == 0 and done.stdout.strip() == "$1.04"


def test_a_process_killed_while_waiting_is_finished_by_resume_in_a_new_process(tmp_path):
    with start_server(LocalConfig(timing="realistic", speed=0.25)) as srv:  # ~5 s at 480p 4 s
        image = make_image(tmp_path / "in.png")
        env = _env(tmp_path / "home", srv.url)
        proc = spawn([sys.executable, "-m", "playground", "generate", str(image), "--resolution", "480p",
                      "--duration", "4"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ledger_path = tmp_path / "home" / "ledger.sqlite3"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if ledger_path.exists():
                jobs = Ledger(ledger_path).jobs()
                if jobs and jobs[0].request_id and jobs[0].status == "processing":
                    break
            time.sleep(0.1)
        else:
            proc.kill()
            pytest.fail("the job never reached processing")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        balance_after_submit = srv.balance(KEY)

        done = _cli("resume", env=env)
        assert done.returncode == 0, done.stderr
        jobs = Ledger(ledger_path).jobs()
        assert len(jobs) == 1 and jobs[0].status == "completed" and jobs[0].has_video
        assert probe(jobs[0].video_path).frames == 96
        assert f"job {jobs[0].id} task {jobs[0].request_id}: completed" in done.stdout
        assert srv.submits == 1
        assert srv.balance(KEY) == balance_after_submit == pytest.approx(10.0 - 0.096)
