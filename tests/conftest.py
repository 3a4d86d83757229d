"""Shared fixtures: a local API over real loopback HTTP, and procedural test images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from playground.local import LocalConfig, start_server


def draw_png(path: Path, width: int = 800, height: int = 450) -> Path:
    """Write a procedural PNG (a gradient with a few shapes, so motion and crops are visible) and return its path."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((width * 0.1, height * 0.6, width * 0.35, height * 0.9), fill=(220, 60, 40))
    draw.ellipse((width * 0.55, height * 0.15, width * 0.85, height * 0.15 + width * 0.3), fill=(40, 90, 220))
    draw.line((0, 0, width, height), fill=(250, 220, 0), width=max(2, width // 100))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


@pytest.fixture
def png_file(tmp_path) -> Path:
    """An 800x450 (16:9) test PNG."""
    return draw_png(tmp_path / "frame.png")


@pytest.fixture
def make_png(tmp_path):
    """A factory: ``make_png(width, height, name="image.png")`` writes a test PNG in tmp_path and returns its path."""
    def make(width: int = 800, height: int = 450, name: str = "image.png") -> Path:
        return draw_png(tmp_path / name, width, height)
    return make


@pytest.fixture
def local_api():
    """A fresh local API with instant timing, stopped after the test."""
    server = start_server(LocalConfig(timing="instant"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_local_api():
    """One local API for the whole session, for tests that only read (use ``local_api`` to change faults)."""
    server = start_server(LocalConfig(timing="instant", balance=1000.0))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def installed_venv(tmp_path_factory):
    """A fresh virtual environment with the package installed from a wheel built from this checkout."""
    from install_support import build_wheel, make_venv

    wheel = build_wheel(tmp_path_factory.mktemp("dist"))
    return make_venv(tmp_path_factory.mktemp("venv-wheel"), str(wheel))
