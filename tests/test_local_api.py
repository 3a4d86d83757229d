"""The embedded local API, seen over real HTTP by the official ``wavespeed`` SDK and by plain ``requests``."""

from __future__ import annotations

import base64
import socket
import threading
import time

import pytest
import requests

from playground import contract, pricing
from playground.contract import SPICY
from playground.local import LocalConfig, start_server
from playground.media import probe
from tests.support import KEY, call, download, sdk_client, submit, wait_until_done  # their default key is KEY


def sdk(server, key: str = KEY):
    return sdk_client(server, key, retry_interval=0.05)


@pytest.mark.full_render
@pytest.mark.parametrize(("resolution", "aspect_ratio", "duration", "audio"), [
    ("480p", "16:9", 4, True),
    ("720p", "9:16", 4, False),
    ("1080p", "1:1", 4, True),
])
def test_sdk_uploads_and_runs_the_spicy_model_to_a_contract_shaped_mp4(local_api, png_file, tmp_path, resolution,
                                                                       aspect_ratio, duration, audio):
    client = sdk(local_api)
    image_url = client.upload(str(png_file))
    inputs = {"image": image_url, "prompt": "slow zoom in", "resolution": resolution, "aspect_ratio": aspect_ratio,
              "duration": duration, "generate_audio": audio, "seed": 42}

    result = client.run(SPICY, inputs, poll_interval=0.05, timeout=120)

    assert len(result["outputs"]) == 1
    video = tmp_path / "out.mp4"
    download(result["outputs"][0], video)
    info = probe(video)
    assert (info.width, info.height) == contract.OUTPUT_SIZES[resolution][aspect_ratio]
    assert info.fps == 24
    assert info.frames == duration * 24
    assert info.has_audio is audio
    if audio:
        assert info.audio_channels == 1
    assert local_api.balance(KEY) == pytest.approx(10.0 - pricing.estimate_cost(SPICY, inputs))


@pytest.mark.full_render
def test_omitted_aspect_ratio_follows_a_portrait_image(local_api, make_png, tmp_path):
    portrait = make_png(450, 800, "portrait.png")
    client = sdk(local_api)
    result = client.run(SPICY, {"image": client.upload(str(portrait)), "resolution": "480p", "duration": 4,
                                "generate_audio": False}, poll_interval=0.05, timeout=60)
    video = tmp_path / "portrait.mp4"
    download(result["outputs"][0], video)
    assert (probe(video).width, probe(video).height) == contract.OUTPUT_SIZES["480p"]["9:16"]


def test_prediction_object_has_the_contract_shape(local_api, png_file):
    url = sdk(local_api).upload(str(png_file))
    reply = submit(local_api, {"image": url, "resolution": "480p", "duration": 4})
    assert reply.status_code == 200
    body = reply.json()
    assert (body["code"], body["message"]) == (200, "success")
    data = body["data"]
    assert set(data) >= {"id", "model", "outputs", "urls", "has_nsfw_contents", "status", "created_at", "error",
                         "timings"}
    assert len(data["id"]) == 32 and int(data["id"], 16) >= 0
    assert data["model"] == SPICY
    assert data["status"] == "created"
    assert data["outputs"] == [] and data["error"] == ""
    assert data["urls"]["get"] == f"{local_api.url}/api/v3/predictions/{data['id']}/result"
    assert time.strptime(data["created_at"][:19], "%Y-%m-%dT%H:%M:%S")
    assert data["created_at"][19] == "." and data["created_at"].endswith("Z") and len(data["created_at"]) == 24

    done = wait_until_done(local_api, data["id"])
    assert done["status"] == "completed"
    assert done["outputs"] == [f"{local_api.url}/media/outputs/{data['id']}.mp4"]
    assert done["has_nsfw_contents"] == [False]
    assert isinstance(done["timings"]["inference"], int) and done["timings"]["inference"] > 0
    # The same prediction is also served without the /result suffix.
    assert call(local_api, "GET", f"/api/v3/predictions/{data['id']}").json()["data"]["status"] == "completed"


def test_outputs_support_range_requests_so_players_can_seek(local_api, png_file):
    result = sdk(local_api).run(SPICY, {"image": sdk(local_api).upload(str(png_file)), "resolution": "480p",
                                        "duration": 4}, poll_interval=0.05)
    reply = requests.get(result["outputs"][0], headers={"Range": "bytes=0-99"}, timeout=30)
    assert reply.status_code == 206
    assert len(reply.content) == 100
    assert reply.content[4:8] == b"ftyp"


GOOD = {"image": "http://127.0.0.1:9/never-fetched.png"}


@pytest.mark.parametrize(("change", "field"), [
    ({"duration": 3}, "duration"),
    ({"duration": 13}, "duration"),
    ({"duration": "five"}, "duration"),
    ({"resolution": "4k"}, "resolution"),
    ({"aspect_ratio": "2:1"}, "aspect_ratio"),
    ({"camera_fixed": "yes"}, "camera_fixed"),
    ({"generate_audio": 1}, "generate_audio"),
    ({"seed": -2}, "seed"),
    ({"seed": 2147483648}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"prompt": 7}, "prompt"),
    ({"image": None}, "image"),
    ({"enable_sync_mode": "please"}, "enable_sync_mode"),
])
def test_bad_values_get_400_naming_the_field_and_cost_nothing(shared_local_api, change, field):
    before = shared_local_api.balance(KEY)
    tasks_before = len(shared_local_api.tasks())
    inputs = {**GOOD, **change}
    inputs = {k: v for k, v in inputs.items() if v is not None}

    reply = submit(shared_local_api, inputs)

    assert reply.status_code == 400
    body = reply.json()
    assert body["code"] == 400 and body["data"] is None
    assert body["message"].startswith(f"{field}:"), body["message"]
    assert shared_local_api.balance(KEY) == before
    assert len(shared_local_api.tasks()) == tasks_before


def test_unknown_model_is_refused_by_name(shared_local_api):
    reply = submit(shared_local_api, GOOD, model="bytedance/seedance-v9/imaginary")
    assert reply.status_code == 400
    assert "model" in reply.json()["message"] and "bytedance/seedance-v9/imaginary" in reply.json()["message"]


def test_sdk_surfaces_the_validation_message(shared_local_api):
    with pytest.raises(RuntimeError, match="HTTP 400.*duration: 13 is out of range"):
        sdk(shared_local_api).run(SPICY, {**GOOD, "duration": 13})


def test_legacy_multipart_upload_serves_the_same_bytes_and_feeds_a_task(local_api, png_file):
    reply = call(local_api, "POST", "/api/v3/media/upload/binary",
                 files={"file": ("frame.png", png_file.read_bytes(), "image/png")})
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["type"] == "image" and data["filename"] == "frame.png" and data["size"] == png_file.stat().st_size
    served = requests.get(data["download_url"], timeout=30)
    assert served.content == png_file.read_bytes()
    assert served.headers["content-type"] == "image/png"

    task = submit(local_api, {"image": data["download_url"], "last_image": data["download_url"],
                              "resolution": "480p", "duration": 4, "generate_audio": False}).json()["data"]
    assert wait_until_done(local_api, task["id"])["status"] == "completed"


def test_upload_put_needs_no_key_but_checks_the_size(local_api):
    ticket = call(local_api, "POST", "/api/v3/media/uploads",
                  json={"filename": "a.png", "size": 10, "content_type": "image/png"}).json()["data"]
    assert ticket["upload"]["method"] == "PUT"
    assert ticket["upload"]["headers"] == {"Content-Type": "image/png"}
    assert ticket["upload"]["expires_at"].endswith("Z")
    wrong = requests.put(ticket["upload"]["url"], data=b"123", headers=ticket["upload"]["headers"], timeout=30)
    assert wrong.status_code == 400 and "size" in wrong.json()["message"]
    assert requests.get(ticket["download_url"], timeout=30).status_code == 404
    right = requests.put(ticket["upload"]["url"], data=b"0123456789", headers=ticket["upload"]["headers"], timeout=30)
    assert right.status_code == 200
    assert requests.get(ticket["download_url"], timeout=30).content == b"0123456789"
    forged = requests.put(ticket["upload"]["url"].replace("token=", "token=0"), data=b"0123456789", timeout=30)
    assert forged.status_code == 403
    missing = call(local_api, "POST", "/api/v3/media/uploads", json={"size": 10})
    assert missing.status_code == 400 and missing.json()["message"].startswith("filename:")


@pytest.mark.parametrize("inputs", [
    {"resolution": "480p", "duration": 4, "generate_audio": False},
    {"resolution": "720p"},
    {"resolution": "1080p", "duration": 12, "generate_audio": True},
])
def test_price_endpoint_equals_the_pricing_module(shared_local_api, inputs):
    reply = call(shared_local_api, "POST", "/api/v3/model/price", json={"model_id": SPICY, "inputs": inputs})
    assert reply.status_code == 200
    data = reply.json()["data"]
    expected = pricing.estimate_cost(SPICY, inputs)
    assert data == {"model_id": SPICY, "price": pytest.approx(expected), "discounted_price": pytest.approx(expected),
                    "discount_rate": 0.0, "currency": "USD"}


def test_price_endpoint_refuses_bad_inputs_by_name(shared_local_api):
    reply = call(shared_local_api, "POST", "/api/v3/model/price",
                 json={"model_id": SPICY, "inputs": {"resolution": "4k"}})
    assert reply.status_code == 400 and reply.json()["message"].startswith("resolution:")


def test_balance_endpoint_reports_the_account(local_api):
    reply = call(local_api, "GET", "/api/v3/balance")
    assert reply.json() == {"code": 200, "message": "success", "data": {"balance": 10.0}}


def test_history_lists_the_keys_tasks_newest_first_with_filters(local_api):
    ids = [submit(local_api, {"image": f"https://example.com/{i}.png", "resolution": "480p"}).json()["data"]["id"]
           for i in range(3)]
    submit(local_api, {"image": "https://example.com/other.png"}, key="someone-else")
    for task_id in ids:
        wait_until_done(local_api, task_id)

    body = call(local_api, "POST", "/api/v3/predictions", json={"page": 1, "page_size": 2}).json()["data"]
    assert body["total"] == 3 and body["page"] == 1
    assert [item["id"] for item in body["items"]] == ids[::-1][:2]
    assert body["items"][0]["input"]["image"] == "https://example.com/2.png"
    page2 = call(local_api, "POST", "/api/v3/predictions", json={"page": 2, "page_size": 2}).json()["data"]
    assert [item["id"] for item in page2["items"]] == [ids[0]]

    failed = call(local_api, "POST", "/api/v3/predictions", json={"status": "failed", "model": SPICY}).json()["data"]
    assert failed["total"] == 3
    assert call(local_api, "POST", "/api/v3/predictions", json={"status": "completed"}).json()["data"]["total"] == 0
    future = call(local_api, "POST", "/api/v3/predictions", json={"created_after": "2999-01-01T00:00:00Z"})
    assert future.json()["data"]["total"] == 0
    bad = call(local_api, "POST", "/api/v3/predictions", json={"created_after": "yesterday"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("created_after:")


def test_delete_removes_predictions_from_history_without_stopping_or_refunding_them(png_file):
    with start_server(LocalConfig(timing="realistic", speed=0.05, render="protocol")) as server:  # 480p 4 s: ~1 s
        url = sdk(server).upload(str(png_file))
        running, done = (submit(server, {"image": url, "resolution": "480p", "duration": 4}).json()["data"]
                         for _ in range(2))
        wait_until_done(server, done["id"])
        charged = server.balance(KEY)
        assert charged == pytest.approx(10.0 - 2 * 0.096)

        reply = call(server, "POST", "/api/v3/predictions/delete",
                     json={"ids": [running["id"], done["id"], "0" * 32, running["id"]]})

        assert reply.status_code == 200 and reply.json()["data"] == {"deleted_count": 2}
        for task in (running, done):
            gone = call(server, "GET", f"/api/v3/predictions/{task['id']}/result")
            assert gone.status_code == 404 and gone.json()["message"] == "Prediction not found"
        assert call(server, "POST", "/api/v3/predictions", json={}).json()["data"]["total"] == 0
        assert requests.get(f"{server.url}/media/outputs/{done['id']}.mp4", timeout=30).status_code == 404
        # The running task was not stopped: it ends as it would have, still charged, its output never served.
        deadline = time.monotonic() + 30
        while server.finished_at(running["id"]) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.finished_at(running["id"]) is not None
        assert server.balance(KEY) == pytest.approx(charged)
        assert requests.get(f"{server.url}/media/outputs/{running['id']}.mp4", timeout=30).status_code == 404
        # Another key's delete of these ids is ignored.
        assert call(server, "POST", "/api/v3/predictions/delete", key="another-key",
                    json={"ids": [done["id"]]}).json()["data"] == {"deleted_count": 0}


def test_configured_keys_refuse_everyone_else_with_401():
    with start_server(LocalConfig(keys=frozenset({"good"}))) as server:
        for key in (None, "", "bad"):
            reply = call(server, "GET", "/api/v3/balance", key=key)
            assert reply.status_code == 401
            assert reply.json() == {"code": 401, "message": "Unauthorized", "data": None}
        assert call(server, "GET", "/api/v3/balance", key="good").status_code == 200
        assert submit(server, GOOD, key="bad").status_code == 401
        assert not server.tasks()
        assert all("good" not in str(entry) and "bad" not in str(entry) for entry in server.requests_log)


def test_a_task_belongs_to_its_key(local_api):
    task = submit(local_api, {"image": "https://example.com/a.png"}).json()["data"]
    other = call(local_api, "GET", f"/api/v3/predictions/{task['id']}/result", key="another-key")
    assert other.status_code == 404 and other.json()["message"] == "Prediction not found"
    assert call(local_api, "GET", "/api/v3/predictions/" + "0" * 32 + "/result").status_code == 404


def test_tasks_beyond_the_concurrency_limit_wait_as_created(png_file):
    # 480p 4 s is modelled at 20 s; x0.5 keeps each task processing for about 10 s, long enough for a busy machine to
    # submit all three and look before the first ends.
    with start_server(LocalConfig(timing="realistic", speed=0.5, concurrency=2, render="protocol")) as server:
        url = sdk(server).upload(str(png_file))
        ids = [submit(server, {"image": url, "resolution": "480p", "duration": 4}).json()["data"]["id"]
               for _ in range(3)]

        def statuses_become(expected: list[str]) -> list[str]:
            # The scheduler runs in its own thread: give it a moment to move tasks along.
            deadline = time.monotonic() + 5.0
            while True:
                seen = [call(server, "GET", f"/api/v3/predictions/{i}/result").json()["data"]["status"] for i in ids]
                if seen == expected or time.monotonic() > deadline:
                    return seen
                time.sleep(0.02)

        assert statuses_become(["processing", "processing", "created"]) == ["processing", "processing", "created"]
        # The first to end frees its slot for the waiting task.
        assert [wait_until_done(server, i)["status"] for i in ids] == ["completed"] * 3
        assert server.max_in_flight(KEY) == 2


def test_realistic_timing_keeps_a_task_processing_for_the_modelled_time(png_file):
    # 480p 4 s -> 2 s
    with start_server(LocalConfig(timing="realistic", speed=0.1, jitter=0.0, render="protocol")) as server:
        url = sdk(server).upload(str(png_file))
        started = time.monotonic()
        task = submit(server, {"image": url, "resolution": "480p", "duration": 4}).json()["data"]
        done = wait_until_done(server, task["id"])
        assert done["status"] == "completed"
        assert time.monotonic() - started >= 1.9
        assert done["timings"]["inference"] >= 1900


def test_submits_over_the_rpm_limit_get_429_with_retry_after():
    with start_server(LocalConfig(rpm=2)) as server:
        assert [submit(server, GOOD).status_code for _ in range(2)] == [200, 200]
        reply = submit(server, GOOD)
        assert reply.status_code == 429
        assert 1 <= int(reply.headers["Retry-After"]) <= 60
        assert len(server.tasks()) == 2
        assert submit(server, GOOD, key="another-key").status_code == 200


def test_a_short_balance_gets_1407_and_nothing_is_charged():
    with start_server(LocalConfig(balance=0.2)) as server:
        reply = submit(server, {**GOOD, "resolution": "720p", "duration": 5})  # $0.26
        assert reply.status_code == 400
        assert reply.json()["code"] == 1407 and reply.json()["message"] == "insufficient credits"
        assert server.balance(KEY) == 0.2
        assert not server.tasks()


def test_an_image_url_from_elsewhere_fails_1402_and_is_refunded(local_api):
    task = submit(local_api, {"image": "https://example.com/cat.png", "resolution": "480p"}).json()["data"]
    done = wait_until_done(local_api, task["id"])
    assert done["status"] == "failed" and done["code"] == 1402
    assert done["error"].startswith("image: the image could not be fetched") and "upload the file" in done["error"]
    assert local_api.balance(KEY) == 10.0


def test_an_unreadable_image_fails_1401(local_api):
    ticket = call(local_api, "POST", "/api/v3/media/uploads", json={"filename": "x.png", "size": 4}).json()["data"]
    requests.put(ticket["upload"]["url"], data=b"nope", headers=ticket["upload"]["headers"], timeout=30)
    done = wait_until_done(local_api, submit(local_api, {"image": ticket["download_url"]}).json()["data"]["id"])
    assert done["status"] == "failed" and done["code"] == 1401 and done["error"].startswith("image:")


def test_a_data_uri_image_is_accepted(local_api, png_file):
    uri = "data:image/png;base64," + base64.b64encode(png_file.read_bytes()).decode()
    task = submit(local_api, {"image": uri, "resolution": "480p", "duration": 4, "generate_audio": False})
    assert wait_until_done(local_api, task.json()["data"]["id"])["status"] == "completed"


def test_sync_mode_answers_with_the_finished_task(local_api, png_file):
    url = sdk(local_api).upload(str(png_file))
    result = sdk(local_api).run(SPICY, {"image": url, "resolution": "480p", "duration": 4}, enable_sync_mode=True)
    assert result["outputs"][0].endswith(".mp4")


def test_sync_mode_times_out_with_5004_and_the_task_goes_on(png_file):
    with start_server(LocalConfig(timing="realistic", speed=0.05, sync_wait=0.3, render="protocol")) as server:
        client = sdk(server)
        outcome = client.run_no_throw(SPICY, {"image": client.upload(str(png_file)), "resolution": "480p",
                                              "duration": 4}, enable_sync_mode=True)
        assert outcome["status"] == "processing"
        assert "Sync mode timed out after 0.3 seconds" in outcome["error"]
        assert wait_until_done(server, outcome["task_id"])["status"] == "completed"


def test_starting_and_stopping_leaves_no_thread_or_open_port(png_file):
    threads_before = set(threading.enumerate())
    server = start_server(LocalConfig(render_workers=2))
    client = sdk(server)
    client.run(SPICY, {"image": client.upload(str(png_file)), "resolution": "480p", "duration": 4},
               poll_interval=0.05)
    port, data_dir = server.port, server.data_dir
    server.stop()

    assert set(threading.enumerate()) - threads_before == set()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert not data_dir.exists()
    server.stop()  # a second stop is harmless


def test_realistic_times_vary_within_the_jitter_as_real_runs_do(png_file):
    with start_server(LocalConfig(timing="realistic", speed=0.05, jitter=0.3, concurrency=4,
                                  render="protocol")) as server:  # ~1 s
        url = sdk(server).upload(str(png_file))
        ids = [submit(server, {"image": url, "resolution": "480p", "duration": 4}).json()["data"]["id"]
               for _ in range(4)]
        times = [wait_until_done(server, i)["timings"]["inference"] for i in ids]
    assert all(600 <= ms for ms in times), times
    assert len(set(times)) > 1, times


def test_the_seedance_1_model_renders_at_its_own_sizes(png_file):
    with start_server(LocalConfig()) as server:
        url = sdk(server).upload(str(png_file))
        body = {"image": url, "prompt": "a slow pan", "resolution": "720p", "aspect_ratio": "16:9", "duration": 2}
        reply = call(server, "POST", "/api/v3/bytedance/seedance-v1-pro-fast/image-to-video", json=body)
        done = wait_until_done(server, reply.json()["data"]["id"])
        path = png_file.with_suffix(".mp4")
        download(done["outputs"][0], path)
    info = probe(path)
    assert (info.width, info.height, info.frames, info.has_audio) == (1248, 704, 48, False)
