"""Pictures of many clips: contact sheets, side-by-side videos and the motion score, on real MP4 files."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from playground.local.render import render_video
from playground.media import (
    Clip,
    clips_of,
    contact_sheet,
    motion_energy,
    probe,
    read_frames,
    side_by_side,
    spaced_indices,
    varied_fields,
)
from playground.pipeline import Result
from playground.samples import demo_image
from playground.sweep import SWEEP_COLUMNS


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """Three 480p clips of the demo picture: two 4 s seeds and a 5 s one with a fixed camera."""
    root = tmp_path_factory.mktemp("clips")
    image = Image.open(demo_image(root / "demo.png"))
    made = []
    for seed, duration, fixed in ((1, 4, False), (2, 4, False), (3, 5, True)):
        path = root / f"seed{seed}.mp4"
        render_video(image, path, resolution="480p", duration=duration, seed=seed, camera_fixed=fixed,
                     generate_audio=False)
        made.append(path)
    return made


def sweep_frame(paths: list[Path], statuses: list[str] | None = None) -> pd.DataFrame:
    rows = []
    for i, path in enumerate(paths):
        status = statuses[i] if statuses else "completed"
        rows.append({"seed": i + 1, "prompt": "slow zoom in", "resolution": "480p", "duration": 4,
                     "aspect_ratio": None, "camera_fixed": False, "generate_audio": False, "request_id": f"r{i}",
                     "status": status, "cost": 0.048, "inference_ms": 900, "wall_s": 1.0,
                     "output_path": str(path) if status == "completed" else "", "nsfw": False,
                     "error": "" if status == "completed" else "boom", "reused": False, "job_id": i + 1})
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def test_the_contact_sheet_is_a_row_per_clip_by_a_column_per_frame(clips):
    df = sweep_frame(clips[:2])
    sheet = contact_sheet(df, frames=6, tile_width=200)
    tile_h = round(200 * 496 / 864)
    assert sheet.size == (6 * 200, 2 * tile_h)
    assert sheet.info["layout"] == {"rows": 2, "columns": 6, "tile": (200, tile_h)}

    # The last tile of the second row is the second clip's last frame, scaled down.
    last = Image.fromarray(read_frames(clips[1], [95])[0]).resize((200, tile_h), Image.Resampling.BOX)
    tile = sheet.crop((5 * 200, tile_h, 6 * 200, 2 * tile_h))
    diff = np.abs(np.asarray(tile, dtype=np.int16) - np.asarray(last, dtype=np.int16)).mean()
    assert diff < 6
    # Each row starts with a label: a black band with white text in the first tile's top-left corner.
    band = np.asarray(sheet.crop((0, 0, 60, max(14, tile_h // 8))))
    assert (band.max(axis=2) < 20).mean() > 0.4 and (band.min(axis=2) > 200).any()


def test_failed_rows_are_left_out_and_the_labels_name_only_what_varies(clips):
    df = sweep_frame(clips, ["completed", "failed", "completed"])
    picked = clips_of(df)
    assert [c.path for c in picked] == [str(clips[0]), str(clips[2])]
    assert varied_fields(picked) == ()
    assert picked[0].label() == "seed 1"

    mixed = [Clip(str(clips[0]), 7, {"resolution": "480p", "camera_fixed": False}),
             Clip(str(clips[2]), 7, {"resolution": "480p", "camera_fixed": True})]
    assert varied_fields(mixed) == ("camera_fixed",)
    assert mixed[1].label(varied_fields(mixed)) == "seed 7 · fixed camera"
    sheet = contact_sheet(df, frames=3, tile_width=120)
    assert sheet.size == (3 * 120, 2 * round(120 * 496 / 864))


def test_contact_sheet_and_side_by_side_take_pipeline_results_too(clips, tmp_path):
    results = [Result(job_id=i, request_id=f"r{i}", model="m", params={"resolution": "480p", "seed": i}, seed=i,
                      cost=0.048, video_path=path, output_url="", nsfw=False, inference_ms=1, wall_s=1.0)
               for i, path in enumerate(clips[:2])]
    assert contact_sheet(results, frames=2, tile_width=100).size == (200, 2 * round(100 * 496 / 864))
    out = side_by_side(results, tmp_path / "two.mp4", columns=2, max_width=640)
    assert probe(out).width == 640


def test_side_by_side_is_one_h264_video_tiling_the_clips_in_sync(clips, tmp_path):
    out = side_by_side(sweep_frame(clips), tmp_path / "tiled.mp4", max_width=960)
    info = probe(out)
    assert info.video_codec == "h264" and info.pix_fmt == "yuv420p" and not info.has_audio
    assert info.width % 2 == 0 and info.height % 2 == 0
    # Three clips: a 2 x 2 grid of 480-wide cells; the longest clip (5 s) sets the length.
    assert (info.width, info.height) == (960, 2 * 276)
    assert info.frames == 120 and info.fps == 24
    # Frame 48 of the tiled video shows each clip's frame 48 in its cell (label band aside).
    tiled = read_frames(out, [48])[0]
    for i, path in enumerate(clips):
        x, y = (i % 2) * 480, (i // 2) * 276
        want = Image.fromarray(read_frames(path, [48])[0]).resize((480, 276), Image.Resampling.BOX)
        cell = tiled[y + 40:y + 276, x:x + 480].astype(np.int16)
        assert np.abs(cell - np.asarray(want, dtype=np.int16)[40:]).mean() < 8
    # The 4 s clips hold their last frame while the 5 s one plays on.
    end = read_frames(out, [119])[0][50:276, 0:480].astype(np.int16)
    last = np.asarray(Image.fromarray(read_frames(clips[0], [95])[0]).resize((480, 276), Image.Resampling.BOX),
                      dtype=np.int16)[50:]
    assert np.abs(end - last).mean() < 8


def test_side_by_side_refuses_when_there_is_nothing_to_show(tmp_path):
    with pytest.raises(ValueError, match="no completed clip"):
        side_by_side(sweep_frame([tmp_path / "x.mp4"], ["failed"]), tmp_path / "none.mp4")
    with pytest.raises(ValueError, match="no completed clip"):
        contact_sheet([])


def write_clip(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=24, macro_block_size=1, quality=None,
                                         output_params=["-crf", "10"])
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame).tobytes())
    writer.close()
    return path


def moving_square(step: int, n: int = 24, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    w, h = size
    frames = []
    for i in range(n):
        frame = np.full((h, w, 3), 40, np.uint8)
        x = (20 + i * step) % (w - 60)
        frame[90:150, x:x + 60] = 230
        frames.append(frame)
    return frames


def test_motion_energy_is_zero_for_a_still_and_grows_with_movement(tmp_path):
    still = write_clip(tmp_path / "still.mp4", moving_square(0))
    slow = write_clip(tmp_path / "slow.mp4", moving_square(2))
    fast = write_clip(tmp_path / "fast.mp4", moving_square(8))
    energies = [motion_energy(p) for p in (still, slow, fast)]
    assert energies[0] < 1e-3
    assert energies[0] < energies[1] < energies[2] < 1


def test_spaced_indices_include_both_ends():
    assert spaced_indices(96, 6) == [0, 19, 38, 57, 76, 95]
    assert spaced_indices(96, 1) == [48]
    assert spaced_indices(3, 5) == [0, 0, 1, 2, 2]
