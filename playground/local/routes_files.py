"""Uploads and files of the local API: upload tickets and their PUT URLs, the legacy multipart upload, and serving
uploads and outputs (the PUT URL and downloads need no key, as the real API's do not)."""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from starlette.requests import ClientDisconnect

from .bodies import capped_receive, json_object
from .faults import FaultPlan
from .gateway import ApiError, envelope
from .history import iso_time
from .media import Media, authorize
from .state import LocalState

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around a legacy upload's file


def add_file_routes(app: FastAPI, state: LocalState, media: Media, faults: FaultPlan) -> None:
    """Add the upload and download routes to ``app``."""
    _add_upload_routes(app, state, media)
    _add_download_routes(app, state, media, faults)


def _add_upload_routes(app: FastAPI, state: LocalState, media: Media) -> None:
    config = state.config

    @app.post("/api/v3/media/uploads")
    async def upload_ticket(request: Request):
        authorize(request, config)
        body = await json_object(request, config.json_max_bytes)
        upload = state.uploads.new_ticket(body.get("filename"), body.get("size"), body.get("content_type"))
        base = media.base_url(request)
        return envelope({
            "download_url": media.download_url(base, upload),
            "upload": {"method": "PUT", "url": media.put_url(base, upload),
                       "headers": {"Content-Type": upload.content_type}, "expires_at": iso_time(upload.expires_at)},
        })

    @app.put("/media/put/{upload_id}")
    async def upload_put(upload_id: str, request: Request):
        upload = state.uploads.for_put(upload_id, request.query_params.get("token", ""),
                                       request.query_params.get("expires", ""))
        tmp = state.uploads_dir / f".incoming-{uuid.uuid4().hex}"
        received = 0
        try:
            with tmp.open("wb") as out:
                async for chunk in request.stream():
                    received += len(chunk)
                    if received > upload.size:
                        raise ApiError(400, f"size: the upload is over the {upload.size} bytes the ticket declared")
                    out.write(chunk)
            state.uploads.finish(upload, received, tmp)
        finally:
            tmp.unlink(missing_ok=True)
        return envelope(None)

    @app.post("/api/v3/media/upload/binary")
    async def upload_binary(request: Request):
        authorize(request, config)
        capped = Request(request.scope, capped_receive(request, config.upload_max_bytes + MULTIPART_OVERHEAD,
                                                          shown_limit=config.upload_max_bytes))
        try:
            form = await capped.form(max_files=1, max_fields=10)
        except (ApiError, ClientDisconnect):
            raise
        except Exception as exc:  # malformed multipart bodies raise several types
            raise ApiError(400, f"file: expected a multipart/form-data body with a file field ({exc})") from None
        item = form.get("file")
        if item is None or isinstance(item, str):
            raise ApiError(400, "file: is required (a multipart/form-data file field named 'file')")
        data = await item.read()
        await form.close()
        upload = state.uploads.store(item.filename or "upload", data)
        return envelope({"type": upload.kind, "download_url": media.download_url(media.base_url(request), upload),
                         "filename": upload.filename, "size": upload.size})


def _add_download_routes(app: FastAPI, state: LocalState, media: Media, faults: FaultPlan) -> None:
    @app.get("/media/uploads/{instance}/{upload_id}/{filename}")
    async def download_upload(instance: str, upload_id: str, filename: str):
        path, ctype = state.uploads.file(instance, upload_id, filename)
        if path is None:
            raise ApiError(404, "File not found: it was never uploaded or has expired")
        return FileResponse(path, media_type=ctype)

    @app.get("/media/outputs/{name}")
    async def download_output(name: str):
        task_id = media.output_task_id(name)
        path = state.output_path(task_id) if task_id else None
        if task_id is not None and faults.take("output", ("404",), task_id=task_id) is not None:
            raise ApiError(404, "File not found: the output has expired (outputs are kept 7 days)")
        if path is None:
            raise ApiError(404, "File not found: no such output, or the task has not completed")
        return FileResponse(path, media_type="video/mp4")
