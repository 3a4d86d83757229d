"""Code for the current parameters, as the playground's Code tab shows it: cURL and Python (requests).

The key is never written into a snippet: both read it from ``WAVESPEED_API_KEY`` in the shell, whatever key the
page holds. Aimed at the free local preview (``local=True``), they need no key at all (it takes any) and say the one
command that serves it. A local image becomes an upload step; a URL is used as is.

>>> print(curl_snippet({"image": "https://example.com/cat.png", "resolution": "480p"}).splitlines()[4])
TASK=$(curl -sS -X POST "$BASE/api/v3/bytedance/seedance-v1.5-pro/image-to-video-spicy" \\
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from .client import DEFAULT_BASE_URL
from .contract import SPICY, find_model
from .images import is_url

KEY_ENV = "WAVESPEED_API_KEY"
_MEDIA_FIELDS = ("image", "last_image")
LOCAL_PORT = 8000
SERVE_LOCAL = f"seedance-playground local --port {LOCAL_PORT}"
LOCAL_URL = f"http://127.0.0.1:{LOCAL_PORT}"
LOCAL_BEARER = "local-preview"  # the local preview takes any key: this one is no secret


def mask_key(key: str | None) -> str:
    """What the page may say about a key: whether one is set, never any of its characters."""
    return "set (hidden)" if key else "not set"


def _media_fields(model: str) -> set[str]:
    """The model's media fields, from its schema (the known models' image fields when it is not known here)."""
    spec = find_model(model)
    return set(_MEDIA_FIELDS) | ({p.name for p in spec.media_fields} if spec is not None else set())


def _split_media(params: dict[str, Any], model: str = SPICY) -> tuple[dict[str, Any], dict[str, str]]:
    """The request body with local files replaced by placeholders, and those files by upload name (a list's items
    as ``name_0``, ``name_1``...)."""
    body: dict[str, Any] = {}
    files: dict[str, str] = {}
    media = _media_fields(model)

    def placeholder(name: str, value: Any) -> Any:
        if is_url(value):
            return value
        files[name] = Path(str(value)).name or f"{name}.bin"
        return f"<{name} URL from the upload step>"

    for name, value in params.items():
        if value is None or (name == "prompt" and not str(value).strip()):
            continue
        if name in media and isinstance(value, (list, tuple)):
            body[name] = [placeholder(f"{name}_{i}", item) for i, item in enumerate(value)]
        elif name in media:
            body[name] = placeholder(name, value)
        else:
            body[name] = value
    return body, files


def _key_lines(local: bool, base_url: str, comment: str) -> list[str]:
    """Where the requests go and how they authenticate, as comments and one assignment each."""
    if not local:
        return []
    serve = (f"{comment} the free local preview: no key, nothing is charged. This address is the playground's own "
             "preview (while it runs); or serve one yourself:")
    if base_url.rstrip("/") == LOCAL_URL:
        serve = f"{comment} the free local preview: no key, nothing is charged. Serve it first, in another shell:"
    return [serve, f"{comment}   {SERVE_LOCAL}" + ("" if base_url.rstrip("/") == LOCAL_URL else
                                                   f"   (then BASE = {LOCAL_URL})")]


def curl_snippet(params: dict[str, Any], *, model: str = SPICY, base_url: str = DEFAULT_BASE_URL,
                 local: bool = False) -> str:
    """A shell script: upload any local images, submit once, poll the result, print the video URL. ``local``: the
    script is for the free local preview at ``base_url`` (no key)."""
    body, files = _split_media(params, model)
    key = f"{KEY_ENV}={LOCAL_BEARER}" if local else f"export {KEY_ENV}=...  # your key; never paste it into shared code"
    lines = [*_key_lines(local, base_url, "#"), key, f"BASE={shlex.quote(base_url.rstrip('/'))}"]
    for name, filename in files.items():
        var = name.upper() + "_URL"
        lines += [
            "",
            f"# upload {filename} (kept 7 days) and keep its URL",
            f'{var}=$(curl -sS -X POST "$BASE/api/v3/media/upload/binary" \\',
            f'  -H "Authorization: Bearer ${KEY_ENV}" -F file=@{shlex.quote(filename)} \\',
            "  | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][\"download_url\"])')",
        ]
    # Inside single quotes: a quote in the prompt closes, escapes and reopens them.
    payload = json.dumps(body, indent=2, ensure_ascii=False).replace("'", "'\\''")
    for name in files:
        payload = payload.replace(json.dumps(f"<{name} URL from the upload step>"), f'"\'"${name.upper()}_URL"\'"')
    lines += [
        "",
        "# submit once (a submit is charged: never retry it blindly), keep the task id",
        f'TASK=$(curl -sS -X POST "$BASE/api/v3/{model}" \\',
        f'  -H "Authorization: Bearer ${KEY_ENV}" -H "Content-Type: application/json" \\',
        f"  -d '{payload}' \\",
        "  | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][\"id\"])')",
        "",
        "# poll the result every 5 s until it ends",
        "while :; do",
        f'  RESULT=$(curl -sS "$BASE/api/v3/predictions/$TASK/result" -H "Authorization: Bearer ${KEY_ENV}")',
        "  STATUS=$(echo \"$RESULT\" \\",
        "    | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][\"status\"])')",
        '  case "$STATUS" in completed|failed|cancelled|timeout|deleted) break;; esac',
        "  sleep 5",
        "done",
        "echo \"$RESULT\" | python3 -m json.tool",
    ]
    return "\n".join(lines)


def _python_payload(params: dict[str, Any], base_url: str, local: bool = False, model: str = SPICY) -> list[str]:
    """The shared start of the Python scripts: imports, key, the envelope reader, uploads and the payload."""
    body, files = _split_media(params, model)
    headers = (f'HEADERS = {{"Authorization": "Bearer {LOCAL_BEARER}"}}' if local
               else f'HEADERS = {{"Authorization": f"Bearer {{os.environ[{KEY_ENV!r}]}}"}}')
    out = [
        *_key_lines(local, base_url, "#"),
        *([] if local else ["import os"]),
        "import time",
        "",
        "import requests",
        "",
        f"BASE = {base_url.rstrip('/')!r}",
        headers,
        "",
        "",
        "def data(response):",
        "    response.raise_for_status()",
        "    body = response.json()",
        '    if body.get("code") != 200:',
        '        raise RuntimeError(body.get("message"))',
        '    return body["data"]',
        "",
        "",
    ]
    for name, filename in files.items():
        out += [
            f"# upload {filename} (kept 7 days)",
            f"with open({filename!r}, 'rb') as fh:",
            f'    {name}_url = data(requests.post(f"{{BASE}}/api/v3/media/upload/binary", headers=HEADERS,',
            '                       files={"file": fh}))["download_url"]',
            "",
        ]
    def code(name: str, value: Any) -> str:
        if isinstance(value, list):
            return "[" + ", ".join(code(f"{name}_{i}", item) for i, item in enumerate(value)) + "]"
        return f"{name}_url" if name in files else repr(value)

    items = [f"    {name!r}: {code(name, value)}," for name, value in body.items()]
    rendered = "{\n" + "\n".join(items) + "\n}"
    return [*out, f"payload = {rendered}", ""]


def python_snippet(params: dict[str, Any], *, model: str = SPICY, base_url: str = DEFAULT_BASE_URL,
                   local: bool = False) -> str:
    """A Python script using only ``requests``: upload, submit once, poll, download the MP4. ``local``: for the free
    local preview at ``base_url`` (no key)."""
    out = _python_payload(params, base_url, local, model) + [
        "# submit once: a submit is charged, so never retry it blindly",
        f'task = data(requests.post(f"{{BASE}}/api/v3/{model}", headers=HEADERS, json=payload, timeout=60))',
        "while task[\"status\"] not in (\"completed\", \"failed\", \"cancelled\", \"timeout\", \"deleted\"):",
        "    time.sleep(5)",
        '    task = data(requests.get(f"{BASE}/api/v3/predictions/{task[\'id\']}/result", headers=HEADERS,'
        " timeout=30))",
        'if task["status"] != "completed":',
        '    raise SystemExit(f"task {task[\'id\']} {task[\'status\']}: {task.get(\'error\')}")',
        "",
        'video = requests.get(task["outputs"][0], timeout=120)  # no key for the output URL',
        'with open(f"{task[\'id\']}.mp4", "wb") as fh:',
        "    fh.write(video.content)",
        'print(task["id"], task["outputs"][0])',
    ]
    return "\n".join(out)


WEBHOOK_PLACEHOLDER = "https://your-app.example/webhooks/wavespeed"


def webhook_snippet(params: dict[str, Any], *, model: str = SPICY, base_url: str = DEFAULT_BASE_URL,
                    webhook_url: str | None = None, local: bool = False) -> str:
    """The webhook variant: submit once with ``?webhook=`` and receive the end, verified, in a FastAPI app (no
    polling). Run the script to submit; serve the same file with ``uvicorn`` at ``webhook_url`` to receive."""
    out = _python_payload(params, base_url, local, model) + [
        "from fastapi import FastAPI, HTTPException, Request",
        "from playground.webhooks import WebhookRejected, verify  # pip install seedance-playground",
        "",
        f"WEBHOOK_URL = {(webhook_url or WEBHOOK_PLACEHOLDER)!r}  # where the service can reach this app",
        "# the secret this key's deliveries are signed with (keep it in memory, never in a file)",
        'SECRET = data(requests.get(f"{BASE}/api/v3/webhook/secret", headers=HEADERS, timeout=30))["secret"]',
        "app = FastAPI()  # serve it: uvicorn this_file:app --host 0.0.0.0 --port 8000",
        "",
        "",
        '@app.post("/webhooks/wavespeed")',
        "async def delivered(request: Request):",
        "    try:",
        "        task = verify(SECRET, request.headers, await request.body())",
        "    except WebhookRejected as exc:  # unsigned, forged, tampered or stale: change nothing",
        "        raise HTTPException(exc.status, str(exc)) from None",
        "    # deliveries may repeat: handle each task id once",
        '    print(task["id"], task["status"], task["outputs"], flush=True)',
        '    return {"ok": True}',
        "",
        "",
        'if __name__ == "__main__":',
        "    # submit once, with the webhook: the end is pushed to WEBHOOK_URL, no polling",
        f'    task = data(requests.post(f"{{BASE}}/api/v3/{model}", params={{"webhook": WEBHOOK_URL}},',
        "                              headers=HEADERS, json=payload, timeout=60))",
        '    print("submitted", task["id"])',
    ]
    return "\n".join(out)
