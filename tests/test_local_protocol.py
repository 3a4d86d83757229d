"""Protocol render mode: every task gets one tiny valid MP4, the API behaves as usual, thousands of tasks are cheap."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from wavespeed import Client

from playground.contract import SPICY
from playground.local import LocalConfig, start_server
from playground.local.catalogue import Catalogue
from playground.local.tasks import IllegalTransition, Task, TaskState
from playground.media import probe
from tests.support import KEY, end, sdk_client, spawn

ROOT = Path(__file__).resolve().parents[1]


def call(server, method: str, path: str, session: requests.Session | None = None, **kw) -> requests.Response:
    return (session or requests).request(method, server.url + path, headers={"Authorization": f"Bearer {KEY}"},
                                         timeout=30, **kw)


def submit(server, inputs: dict, session: requests.Session | None = None) -> dict:
    reply = call(server, "POST", f"/api/v3/{SPICY}", session, json=inputs)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def result(server, task_id: str, session: requests.Session | None = None) -> dict:
    return call(server, "GET", f"/api/v3/predictions/{task_id}/result", session).json()["data"]


def wait_until_done(server, task_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = result(server, task_id)
        if data["status"] not in ("created", "processing"):
            return data
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} did not end within {timeout} s")


def quick(image_url: str, **extra) -> dict:
    return {"image": image_url, "resolution": "1080p", "duration": 12, "generate_audio": True, **extra}


@pytest.fixture
def protocol_api():
    server = start_server(LocalConfig(render="protocol", balance=1000.0))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def image_url(protocol_api, png_file) -> str:
    return sdk_client(protocol_api).upload(str(png_file))


def test_each_task_serves_a_valid_h264_mp4_at_its_own_url_without_rendering(protocol_api, image_url, tmp_path):
    ids = [submit(protocol_api, quick(image_url, seed=seed))["id"] for seed in range(3)]
    outputs = [wait_until_done(protocol_api, task_id)["outputs"] for task_id in ids]

    assert outputs == [[f"{protocol_api.url}/media/outputs/{i}.mp4"] for i in ids]
    for task_id, (url,) in zip(ids, outputs, strict=True):
        reply = requests.get(url, timeout=30)
        assert reply.status_code == 200 and reply.headers["content-type"] == "video/mp4"
        path = tmp_path / f"{task_id}.mp4"
        path.write_bytes(reply.content)
        info = probe(path)
        assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
        assert info.frames >= 1 and info.size_bytes < 20_000  # the tiny shared clip, not a 1080p 12 s render
    # Nothing was rendered per task: no per-task file in the output folder.
    assert not [p for p in (protocol_api.data_dir / "outputs").glob("*.mp4") if p.stem in ids]


def test_protocol_mode_still_reads_the_inputs_and_fails_an_unknown_upload_with_1402(protocol_api, image_url):
    gone = image_url.rsplit("/", 2)[0] + "/" + "0" * 32 + "/frame.png"
    done = wait_until_done(protocol_api, submit(protocol_api, quick(gone))["id"])
    assert (done["status"], done["code"]) == ("failed", 1402)
    assert "upload" in done["error"]


def test_five_hundred_tasks_complete_quickly_and_history_counts_them(png_file):
    config = LocalConfig(render="protocol", concurrency=1000, balance=10_000.0)
    local = threading.local()

    def session() -> requests.Session:  # one keep-alive connection per worker thread
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session

    with start_server(config) as server:
        url = sdk_client(server).upload(str(png_file))
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(lambda i: submit(server, quick(url, seed=i), session())["id"], range(500)))
            pending = list(ids)
            deadline = time.monotonic() + 60
            while pending and time.monotonic() < deadline:
                states = list(pool.map(lambda t: result(server, t, session())["status"], pending))
                assert set(states) <= {"created", "processing", "completed"}
                pending = [t for t, s in zip(pending, states, strict=True) if s in ("created", "processing")]
        elapsed = time.monotonic() - started
        assert not pending, f"{len(pending)} of 500 tasks still running after 60 s"
        assert elapsed < 60
        history = call(server, "POST", "/api/v3/predictions", json={"page_size": 100, "status": "completed"})
        assert history.json()["data"]["total"] == 500
        assert len(set(ids)) == 500


def test_a_raised_concurrency_lets_hundreds_of_tasks_of_one_key_process_at_once(png_file):
    # 480p 4 s is modelled at 20 s: at speed 0.1 each task processes about 2 s.
    config = LocalConfig(render="protocol", timing="realistic", speed=0.1, jitter=0.0, concurrency=300,
                         balance=1000.0)
    with start_server(config) as server:
        url = sdk_client(server).upload(str(png_file))
        body = {"image": url, "resolution": "480p", "duration": 4}
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda _: submit(server, body)["id"], range(60)))
        done = [wait_until_done(server, task_id) for task_id in ids]
        assert {d["status"] for d in done} == {"completed"}
        assert server.max_in_flight(KEY) > 2  # the default concurrency would have capped it at 2
        assert all(d["timings"]["inference"] >= 1500 for d in done)  # the timing model, not the (absent) render


def test_faults_still_apply_in_protocol_mode(protocol_api, image_url):
    before = protocol_api.balance(KEY)
    protocol_api.faults.add("task:fail:1200,result:503x1")
    failed = submit(protocol_api, quick(image_url))["id"]
    protocol_api.faults.add("task:nsfw")
    flagged = submit(protocol_api, quick(image_url))["id"]

    assert call(protocol_api, "GET", f"/api/v3/predictions/{failed}/result").status_code == 503
    done = wait_until_done(protocol_api, failed)
    assert (done["status"], done["code"], done["outputs"]) == ("failed", 1200, [])
    nsfw = wait_until_done(protocol_api, flagged)
    assert (nsfw["status"], nsfw["has_nsfw_contents"]) == ("completed", [True])
    price = before - protocol_api.balance(KEY)  # only the completed task is charged; the failed one was refunded
    assert 0 < price < before

    protocol_api.faults.expire_outputs(flagged)
    assert requests.get(nsfw["outputs"][0], timeout=30).status_code == 404


def test_deleting_a_protocol_task_leaves_the_other_tasks_outputs_served(protocol_api, image_url):
    first, second = (submit(protocol_api, quick(image_url))["id"] for _ in range(2))
    done = [wait_until_done(protocol_api, t) for t in (first, second)]
    reply = call(protocol_api, "POST", "/api/v3/predictions/delete", json={"ids": [first]})
    assert reply.json()["data"] == {"deleted_count": 1}
    assert requests.get(done[0]["outputs"][0], timeout=30).status_code == 404
    assert requests.get(done[1]["outputs"][0], timeout=30).status_code == 200


def test_render_mode_comes_from_the_cli_flag_or_the_environment():
    from playground.local.__main__ import _parser

    assert _parser().parse_args(["--render", "protocol"]).render == "protocol"
    assert LocalConfig.from_env({"PLAYGROUND_LOCAL_RENDER": "protocol"}).render == "protocol"
    assert LocalConfig.from_env({}, concurrency=4).render == "full"
    with pytest.raises(ValueError, match="render: 'fast' is not known"):
        LocalConfig(render="fast")
    with pytest.raises(ValueError, match="PLAYGROUND_LOCAL_CONCURRENCY"):
        LocalConfig.from_env({"PLAYGROUND_LOCAL_CONCURRENCY": "many"})


def test_the_command_line_server_reads_the_render_mode_from_the_environment(png_file, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PLAYGROUND_LOCAL_RENDER": "protocol"}
    proc = spawn([sys.executable, "-m", "playground.local", "--log-level", "WARNING"], env=env,
                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path)
    try:
        base = proc.stdout.readline().strip()
        client = Client(api_key=KEY, base_url=base)
        output = client.run(SPICY, quick(client.upload(str(png_file))), poll_interval=0.05)
        video = tmp_path / "out.mp4"
        video.write_bytes(requests.get(output["outputs"][0], timeout=30).content)
        assert probe(video).size_bytes < 20_000
    finally:
        end(proc)


def test_a_task_moves_only_along_its_life_cycle():
    task = Task.create("acct", Catalogue.load().get(SPICY), {"image": "data:,x"})
    with pytest.raises(IllegalTransition):
        task.move(TaskState.COMPLETED)  # never completed without processing
    task.move(TaskState.PROCESSING)
    task.move(TaskState.FAILED, code=1402, error="image: could not be fetched")
    assert (task.status, task.code, task.terminal) == ("failed", 1402, True)
    with pytest.raises(IllegalTransition):
        task.move(TaskState.CANCELLED)  # an ended task stays ended
