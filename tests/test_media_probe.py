"""Probing videos without ffprobe: what a player would report about a file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from playground.local.render import render_video
from playground.media import probe, read_frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("probe") / "clip.mp4"
    image = Image.fromarray(np.tile(np.linspace(0, 255, 1000, dtype=np.uint8)[None, :, None], (600, 1, 3)))
    render_video(image, path, resolution="480p", aspect_ratio="4:3", duration=4, seed=2)
    return path


def test_probe_reports_size_fps_frames_codec_and_audio(clip):
    info = probe(clip)
    assert info.path == str(clip)
    assert (info.width, info.height) == (752, 560)
    assert info.fps == 24.0
    assert info.frames == 96
    assert info.duration == pytest.approx(4.0, abs=0.05)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.has_audio and info.audio_channels == 1 and info.audio_sample_rate == 48000
    assert info.size_bytes == clip.stat().st_size > 0


def test_read_frames_returns_rgb_frames_in_the_order_asked(clip):
    frames = read_frames(clip, [95, 0, -1])
    assert [f.shape for f in frames] == [(560, 752, 3)] * 3
    assert all(f.dtype == np.uint8 for f in frames)
    assert np.array_equal(frames[0], frames[2])
    assert len(read_frames(clip)) == 96
    with pytest.raises(IndexError):
        read_frames(clip, [96])


def test_a_text_file_is_not_a_video(tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video at all\n")
    with pytest.raises(ValueError, match="notes.mp4"):
        probe(notes)


def test_a_still_image_is_not_a_video(tmp_path):
    picture = tmp_path / "picture.png"
    Image.new("RGB", (64, 48), "red").save(picture)
    with pytest.raises(ValueError, match="picture.png"):
        probe(picture)


def test_a_missing_file_is_reported_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.mp4"):
        probe(tmp_path / "gone.mp4")
