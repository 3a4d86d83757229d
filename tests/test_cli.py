"""The CLI in real processes: generate with a progress bar, one-line errors, and resume after SIGKILL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playground.local import LocalConfig, start_server
from playground.media import probe
from playground.status import COMPLETED, PROCESSING
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
def test_generate_prints_the_video_seed_and_cost_then_history_lists_it(server, tmp_path, ledger_factory):
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
    # A table a terminal shows whole: one line per job, 100 columns at most.
    lines = history.stdout.splitlines()
    assert lines[0].split()[:3] == ["job", "when", "(UTC)"] and max(len(line) for line in lines) <= 100
    assert "V1.5 Pro Spicy" in lines[1] and "$0.048" in lines[1]
    # The file carries what made it, and the CLI reads it back.
    info = _cli("info", str(video), env=env)
    assert info.returncode == 0, info.stderr
    job = ledger_factory(path=tmp_path / "home" / "ledger.sqlite3").jobs()[0]
    for field in ("seed        42", f"job_id      {job.id}", f"request_id  {job.request_id}",
                  "model       bytedance/seedance-v1.5-pro/image-to-video-spicy", "--seed 42 "):
        assert field in info.stdout


def test_history_picks_up_a_refund_that_came_after_the_failure(server, tmp_path, png_file, ledger_factory):
    from playground import generate
    from playground.errors import TaskFailed
    from tests.support import local_client

    env = _env(tmp_path / "home", server.url)
    ledger = ledger_factory(path=tmp_path / "home" / "ledger.sqlite3")
    server.faults.add("task:fail:5000, refund:later:6")
    with pytest.raises(TaskFailed):
        generate(png_file, client=local_client(server), ledger=ledger, seed=3, resolution="480p", duration=4,
                 generate_audio=False)
    failed = ledger.jobs()[0]
    assert (failed.charged_usd, failed.refunded_usd) == (0.048, 0.0)  # read when it failed: no refund yet

    time.sleep(max(0.0, failed.finished_at + 6.5 - time.time()))
    shown = _cli("history", env=env)
    assert shown.returncode == 0, shown.stderr
    line = shown.stdout.splitlines()[1]
    assert "failed" in line and "$0.048  $0.00*" in line  # the estimate, then the net charge, marked
    assert "refund not seen yet" not in shown.stdout and KEY not in shown.stdout + shown.stderr
    assert ledger.get(failed.id).refunded_usd == pytest.approx(0.048)


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


def test_a_process_killed_while_waiting_is_finished_by_resume_in_a_new_process(tmp_path, ledger_factory):
    with start_server(LocalConfig(timing="realistic", speed=0.25)) as srv:  # ~5 s at 480p 4 s
        image = make_image(tmp_path / "in.png")
        env = _env(tmp_path / "home", srv.url)
        ledger = ledger_factory(home=tmp_path / "home")  # the file the CLI's processes use
        proc = spawn([sys.executable, "-m", "playground", "generate", str(image), "--resolution", "480p",
                      "--duration", "4"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            jobs = ledger.jobs()
            if jobs and jobs[0].request_id and jobs[0].status == PROCESSING:
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
        jobs = ledger.jobs()
        assert len(jobs) == 1 and jobs[0].status == COMPLETED and jobs[0].has_video
        assert probe(jobs[0].video_path).frames == 96
        assert f"job {jobs[0].id} task {jobs[0].request_id}: completed" in done.stdout
        assert srv.submits == 1
        assert srv.balance(KEY) == balance_after_submit == pytest.approx(10.0 - 0.096)


def test_help_says_what_the_command_does_in_whole_sentences(tmp_path):
    done = _cli("--help", env=_env(tmp_path / "home"))
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    description = text.split("positional arguments:")[0].split("...")[-1].strip()
    assert description.endswith(".") and description.count(".") >= 2 and "info" in description
    assert "`" not in description  # no half-quoted fragment of a docstring


def test_balance_on_the_local_preview_is_the_play_money_the_readme_names(tmp_path):
    done = _cli("--backend", "local", "balance", env=_env(tmp_path / "home"))
    assert done.returncode == 0, done.stderr
    figure = done.stdout.split()[0]
    assert "play money" in done.stdout and figure.startswith("$")
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"{figure.rstrip('0').rstrip('.')} of play money" in readme or f"{figure} of play money" in readme
