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
