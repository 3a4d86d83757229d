"""The Code tab: cURL and Python for the current parameters, never with a key in them."""

from __future__ import annotations

import ast
import shutil
import subprocess

import pytest

from playground.contract import SPICY
from playground.snippets import KEY_ENV, curl_snippet, mask_key, python_snippet

PARAMS = {"image": "/tmp/uploads/sunset beach.jpg", "prompt": "it's raining, slow zoom in", "resolution": "480p",
          "duration": 4, "generate_audio": False, "camera_fixed": True, "seed": 42, "last_image": None}


def test_curl_uploads_a_local_image_submits_once_and_polls():
    text = curl_snippet(PARAMS)
    assert text.count(f"/api/v3/{SPICY}") == 1
    assert "/api/v3/media/upload/binary" in text and "'sunset beach.jpg'" in text
    assert "/api/v3/predictions/$TASK/result" in text
    for fragment in ('"resolution": "480p"', '"duration": 4', '"generate_audio": false', '"seed": 42',
                     '"camera_fixed": true'):
        assert fragment in text
    assert "last_image" not in text


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash to parse the script")
def test_curl_script_is_valid_shell_even_with_quotes_in_the_prompt():
    subprocess.run(["bash", "-n"], input=curl_snippet(PARAMS).encode(), check=True)


def test_python_is_valid_and_carries_the_parameters():
    text = python_snippet(PARAMS)
    tree = ast.parse(text)
    payload = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                   and getattr(node.targets[0], "id", "") == "payload")
    assert isinstance(payload, ast.Dict)
    fields = {k.value: v for k, v in zip(payload.keys, payload.values, strict=True)}
    assert ast.literal_eval(fields["prompt"]) == "it's raining, slow zoom in"
    assert ast.literal_eval(fields["generate_audio"]) is False
    assert isinstance(fields["image"], ast.Name) and fields["image"].id == "image_url"


def test_a_url_image_needs_no_upload_step():
    params = {**PARAMS, "image": "https://example.com/cat.png"}
    for text in (curl_snippet(params), python_snippet(params)):
        assert "upload" not in text
        assert "https://example.com/cat.png" in text


def test_the_key_is_read_from_the_environment_and_never_written():
    for text in (curl_snippet(PARAMS), python_snippet(PARAMS)):
        assert KEY_ENV in text
    assert mask_key("wsk-live-0123456789") == "set (hidden)"
    assert "0123" not in mask_key("wsk-live-0123456789")
    assert mask_key("") == "not set"


def test_another_base_url_is_used_in_both():
    for text in (curl_snippet(PARAMS, base_url="http://127.0.0.1:8000/"), python_snippet(PARAMS,
                 base_url="http://127.0.0.1:8000/")):
        assert "http://127.0.0.1:8000" in text and "api.wavespeed.ai" not in text


def test_the_webhook_variant_submits_once_and_its_receiver_gets_the_verified_end(local_api, tmp_path):
    """The Code tab's webhook script, run as written against the local API: its FastAPI app served by uvicorn
    receives the signed end of the task it submitted, with no polling."""
    import os
    import sys
    import time

    from playground.snippets import webhook_snippet
    from tests.support import free_port

    port = free_port()
    params = {**PARAMS, "image": "https://example.com/cat.png"}  # offline: the local API ends it as failed (1402)
    script = tmp_path / "hooked.py"
    script.write_text(webhook_snippet(params, base_url=local_api.url,
                                      webhook_url=f"http://127.0.0.1:{port}/webhooks/wavespeed"))
    env = {**os.environ, KEY_ENV: "snippet-key", "PYTHONPATH": os.pathsep.join(sys.path)}
    log = (tmp_path / "receiver.log").open("w")
    receiver = subprocess.Popen([sys.executable, "-m", "uvicorn", "hooked:app", "--port", str(port)], cwd=tmp_path,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        import requests

        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/docs", timeout=1)
                break
            except requests.ConnectionError:
                assert receiver.poll() is None and time.monotonic() < deadline, (tmp_path / "receiver.log").read_text()
                time.sleep(0.2)
        submitted = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                                   text=True, timeout=60, check=True).stdout
        task_id = submitted.split()[-1]
        while f"{task_id} failed" not in (tmp_path / "receiver.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        receiver.terminate()
        receiver.wait(10)
    assert f"{task_id} failed []" in (tmp_path / "receiver.log").read_text()
    assert local_api.submits == 1 and local_api.count_endpoint("result") == 0
    assert "snippet-key" not in script.read_text()


def test_for_the_local_preview_the_code_needs_no_key_and_says_how_to_serve_it():
    from playground.snippets import LOCAL_URL, SERVE_LOCAL

    own = "http://127.0.0.1:43123"
    for make in (curl_snippet, python_snippet):
        served = make(PARAMS, base_url=own, local=True)
        assert own in served and SERVE_LOCAL in served and "your key" not in served
        assert "os.environ" not in served
        fresh = make(PARAMS, base_url=LOCAL_URL, local=True)
        assert f"Serve it first, in another shell:\n#   {SERVE_LOCAL}" in fresh
    assert "'seed': 42," in python_snippet(PARAMS, base_url=own, local=True)
