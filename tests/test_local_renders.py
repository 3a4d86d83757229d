"""Text-to-video and video-extend previews of the local API, and clips uploaded to it, probed as a user would."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from wavespeed import Client

from playground.contract import OUTPUT_SIZES, SPICY
from playground.local.pictures import prompt_picture
from playground.media import probe, read_frames
from tests.support import KEY, call, download, submit, wait_until_done  # their default key is KEY

T2V = "bytedance/seedance-2.0/text-to-video"
EXTEND = "bytedance/seedance-v1.5-pro/video-extend"


def mad(a, b) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


def upload_ticket(server, data: bytes, name: str, content_type: str) -> str:
    """Upload ``data`` through the current endpoint (ticket, then PUT); its download URL."""
    ticket = call(server, "POST", "/api/v3/media/uploads",
                  json={"filename": name, "size": len(data), "content_type": content_type}).json()["data"]
    put = requests.put(ticket["upload"]["url"], data=data, headers=ticket["upload"]["headers"], timeout=30)
    assert put.status_code == 200, put.text
    return ticket["download_url"]


def upload_legacy(server, data: bytes, name: str) -> dict:
    """Upload ``data`` through the legacy multipart endpoint; its reply."""
    reply = call(server, "POST", "/api/v3/media/upload/binary",
                 files={"file": (name, data, "application/octet-stream")})
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def test_a_prompt_picture_follows_the_prompt_and_the_seed():
    size = (320, 180)
    night = np.asarray(prompt_picture("a city at night", 1, size))
    assert np.array_equal(night, np.asarray(prompt_picture("a city at night", 1, size)))
    assert mad(night, prompt_picture("a city at night", 2, size)) > 3
    assert night.mean() < np.asarray(prompt_picture("a desert at noon", 1, size)).mean() - 40


@pytest.mark.full_render
def test_text_to_video_renders_the_prompt_at_the_contract_size(local_api, tmp_path):
    body = {"prompt": "a slow pan left over a snowy valley", "resolution": "480p", "duration": 4,
            "aspect_ratio": "9:16", "generate_audio": False, "seed": 9}
    done = wait_until_done(local_api, submit(local_api, body, model=T2V).json()["data"]["id"])

    assert done["status"] == "completed", done
    path = download(done["outputs"][0], tmp_path / "t2v.mp4")
    info = probe(path)
    assert (info.width, info.height, info.frames, info.duration, info.has_audio) == (
        *OUTPUT_SIZES["480p"]["9:16"], 96, pytest.approx(4.0, abs=0.05), False)
    first, last = read_frames(path, [0, -1])
    assert mad(first, last) > 5  # the camera moves over the picture
    assert local_api.balance(KEY) == pytest.approx(10.0 - 0.12 * 4)


@pytest.mark.full_render
def test_an_extension_starts_on_the_last_frame_of_the_clip_it_continues(local_api, png_file, tmp_path):
    client = Client(api_key=KEY, base_url=local_api.url)
    clip = client.run(SPICY, {"image": client.upload(str(png_file)), "resolution": "480p", "duration": 4,
                              "generate_audio": False, "seed": 4, "prompt": "zoom in"}, poll_interval=0.05)
    original = download(clip["outputs"][0], tmp_path / "clip.mp4")
    # Continued from an upload of the clip (the current endpoint), as a user's own file would be.
    video = upload_ticket(local_api, original.read_bytes(), "clip.mp4", "video/mp4")
    body = {"video": video, "prompt": "the camera keeps drifting", "duration": 5, "resolution": "480p", "seed": 3,
            "generate_audio": True}

    done = wait_until_done(local_api, submit(local_api, body, model=EXTEND).json()["data"]["id"], timeout=120)

    assert done["status"] == "completed", done
    extension = download(done["outputs"][0], tmp_path / "extension.mp4")
    info = probe(extension)
    assert (info.width, info.height, info.frames, info.has_audio) == (*OUTPUT_SIZES["480p"]["16:9"], 120, True)
    assert info.duration == pytest.approx(5.0, abs=0.05)
    last_of_clip = read_frames(original, [-1])[0]
    first, later = read_frames(extension, [0, 119])
    assert mad(first, last_of_clip) < 4, "the extension should start where the clip ended"
    assert mad(later, last_of_clip) > 8, "and then move on"
    paid = 0.048 + 0.024 * 5  # the clip (480p, 4 s, silent) and its extension (480p, 5 s, with audio)
    assert local_api.balance(KEY) == pytest.approx(10.0 - paid)

    # Something that is not a video fails the task with 1401, and it is refunded.
    not_video = upload_ticket(local_api, png_file.read_bytes(), "frame.mp4", "video/mp4")
    refused = submit(local_api, {**body, "video": not_video}, model=EXTEND).json()["data"]["id"]
    failed = wait_until_done(local_api, refused)
    assert (failed["status"], failed["code"]) == ("failed", 1401) and failed["error"].startswith("video:")
    assert local_api.balance(KEY) == pytest.approx(10.0 - paid)


def test_clips_upload_through_both_endpoints_and_an_extension_reads_uploads_and_outputs(protocol_api, png_file):
    client = Client(api_key=KEY, base_url=protocol_api.url)
    output = client.run(SPICY, {"image": client.upload(str(png_file))}, poll_interval=0.05)["outputs"][0]
    data = requests.get(output, timeout=30).content

    legacy = upload_legacy(protocol_api, data, "take one.mp4")
    assert (legacy["type"], legacy["size"]) == ("video", len(data))
    served = requests.get(legacy["download_url"], timeout=30)
    assert served.content == data and served.headers["content-type"] == "video/mp4"
    ticket = upload_ticket(protocol_api, data, "take-two.mp4", "video/mp4")
    assert requests.get(ticket, timeout=30).content == data

    for video in (legacy["download_url"], ticket, output):
        task = submit(protocol_api, {"video": video, "prompt": "go on"}, model=EXTEND).json()["data"]["id"]
        assert wait_until_done(protocol_api, task)["status"] == "completed"
    missing = submit(protocol_api, {"video": output.replace(output[-12:], "0" * 8 + ".mp4"), "prompt": "go on"},
                     model=EXTEND).json()["data"]["id"]
    assert wait_until_done(protocol_api, missing)["code"] == 1402
