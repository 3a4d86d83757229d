"""The local renderer: the clips it writes have the contract's shape and move the way the request asks."""

from __future__ import annotations

import subprocess
from itertools import combinations, pairwise

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from playground.contract import OUTPUT_SIZES, SPICY, STANDARD
from playground.local import render
from playground.local.looks import look_for
from playground.local.render import fit_to_size, motion_from_prompt, plan_camera, render_video
from playground.media import probe, read_frames


def scene(size: tuple[int, int], hue: int = 0) -> Image.Image:
    """A picture with gradients, outlined shapes, grid lines and text, so motion and crops are measurable."""
    w, h = size
    x = np.linspace(0, 1, w)[None, :]
    y = np.linspace(0, 1, h)[:, None]
    rgb = np.stack([60 + 150 * x + 0 * y, 40 + 120 * y + 0 * x, 160 - 100 * x * y], -1)
    img = Image.fromarray(((rgb + hue) % 256).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    rng = np.random.default_rng(hue)
    for i in range(40):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.02, 0.08) * w
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = draw.ellipse if i % 2 else draw.rectangle
        shape([cx - r, cy - r, cx + r, cy + r], fill=colour, outline=(0, 0, 0), width=3)
    for gx in range(0, w, w // 8):
        draw.line([(gx, 0), (gx, h)], fill=(255, 255, 255), width=2)
    draw.text((w * 0.4, h * 0.45), "SEEDANCE", fill=(0, 0, 0))
    return img


def mad(a, b) -> float:
    """Mean absolute difference on 0-255."""
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


def zoom_between(first: np.ndarray, last: np.ndarray) -> float:
    """How much the view zoomed from ``first`` to ``last`` (>1: in, <1: out), found by matching centre crops."""

    def centre_zoom(img: Image.Image, s: float) -> Image.Image:
        w, h = img.size
        vw, vh = w / s, h / s
        box = ((w - vw) / 2, (h - vh) / 2, (w + vw) / 2, (h + vh) / 2)
        return img.resize((w, h), Image.Resampling.BILINEAR, box=box)

    a, b = Image.fromarray(first).convert("L"), Image.fromarray(last).convert("L")
    errors = {}
    for s in np.linspace(0.6, 1.6, 51):
        errors[float(s)] = mad(b, centre_zoom(a, s)) if s >= 1 else mad(a, centre_zoom(b, 1 / s))
    return min(errors, key=errors.get)


def edges(frame: np.ndarray) -> np.ndarray:
    """Fine detail only: a light sweep barely changes it, a camera move changes it everywhere."""
    gray = Image.fromarray(frame).convert("L")
    return np.asarray(gray, np.int16) - np.asarray(gray.filter(ImageFilter.BoxBlur(3)), np.int16)


LANDSCAPE = scene((1200, 800))
PORTRAIT = scene((900, 1500), hue=40)
ENDING = scene((800, 800), hue=90)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Renders shared by the tests below, made lazily and once."""
    out = tmp_path_factory.mktemp("clips")
    made: dict[str, tuple] = {}
    requests = {
        "480p": dict(image=LANDSCAPE, resolution="480p", aspect_ratio="16:9", duration=5, seed=11),
        "480p_again": dict(image=LANDSCAPE, resolution="480p", aspect_ratio="16:9", duration=5, seed=11),
        "480p_seed12": dict(image=LANDSCAPE, resolution="480p", aspect_ratio="16:9", duration=5, seed=12),
        "720p_9:16": dict(image=LANDSCAPE, resolution="720p", aspect_ratio="9:16", duration=4, seed=3,
                          prompt="a static, locked-off shot", generate_audio=False),
        "1080p_1:1": dict(image=LANDSCAPE, resolution="1080p", aspect_ratio="1:1", duration=4, seed=5),
        "portrait_auto": dict(image=PORTRAIT, resolution="480p", duration=4, seed=1, generate_audio=False),
        "last_image": dict(image=LANDSCAPE, resolution="480p", aspect_ratio="16:9", duration=4, seed=11,
                           last_image=ENDING, generate_audio=False),
        "fixed": dict(image=LANDSCAPE, resolution="480p", aspect_ratio="16:9", duration=4, seed=11,
                      camera_fixed=True, generate_audio=False),
        "moving": dict(image=LANDSCAPE, resolution="480p", aspect_ratio="16:9", duration=4, seed=11,
                       generate_audio=False),
        "zoom_in": dict(image=LANDSCAPE, resolution="480p", aspect_ratio="16:9", duration=4, seed=11,
                        prompt="a slow zoom in on the city", generate_audio=False),
        "zoom_out": dict(image=LANDSCAPE, resolution="480p", aspect_ratio="16:9", duration=4, seed=11,
                         prompt="zoom out to reveal the valley", generate_audio=False),
    }

    def get(name: str):
        if name not in made:
            request = dict(requests[name])
            path = out / f"{name.replace(':', '-')}.mp4"
            stats = render_video(request.pop("image"), path, **request)
            made[name] = (path, stats)
        return made[name]

    return get


@pytest.mark.parametrize(
    ("name", "size", "frames", "audio"),
    [
        ("480p", OUTPUT_SIZES["480p"]["16:9"], 120, True),
        ("720p_9:16", OUTPUT_SIZES["720p"]["9:16"], 96, False),
        ("1080p_1:1", OUTPUT_SIZES["1080p"]["1:1"], 96, True),
        ("portrait_auto", OUTPUT_SIZES["480p"]["9:16"], 96, False),
    ],
)
def test_clip_has_the_contract_size_fps_frame_count_and_audio(clips, name, size, frames, audio):
    path, stats = clips(name)
    info = probe(path)
    assert (info.width, info.height) == size == (stats.width, stats.height)
    assert info.fps == 24 and stats.fps == 24
    assert info.frames == frames == stats.frames
    assert info.duration == pytest.approx(frames / 24, abs=0.05)
    assert info.video_codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.has_audio is audio is stats.has_audio
    if audio:
        assert info.audio_channels == 1
        assert info.audio_sample_rate == render.AUDIO_SAMPLE_RATE


def test_mp4_is_ready_for_browsers_with_its_index_up_front(clips):
    path, _ = clips("480p")
    head = path.read_bytes()[:4096]
    # With +faststart the moov box comes before the media data, so playback starts before the download ends.
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))


def test_no_temporary_files_are_left_beside_the_clip(clips):
    path, _ = clips("480p")
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_ratio_other_than_the_images_centre_crops_it(clips):
    path, _ = clips("720p_9:16")
    first, last = read_frames(path, [0, -1])
    expected = np.asarray(fit_to_size(LANDSCAPE, OUTPUT_SIZES["720p"]["9:16"]))
    assert mad(first, expected) < 6
    # "static" in the prompt holds the camera still: the last frame shows the same picture.
    assert mad(last, expected) < 6


def test_the_same_seed_gives_the_same_frames(clips):
    a = read_frames(clips("480p")[0])
    b = read_frames(clips("480p_again")[0])
    assert len(a) == len(b) == 120
    assert max(mad(x, y) for x, y in zip(a, b, strict=True)) < 0.01


def soundtrack_of(path) -> bytes:
    """The clip's audio, decoded to 16-bit samples."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a", "-f", "s16le", "-"]
    return subprocess.run(cmd, capture_output=True, check=True, timeout=120).stdout


def test_a_seed_keeps_its_soundtrack_and_another_seed_sounds_different(clips):
    # The second render at seed 11 reuses the track the renderer kept; it must sound exactly like the first.
    first, again = soundtrack_of(clips("480p")[0]), soundtrack_of(clips("480p_again")[0])
    assert len(first) > 2 * 48000 * 4.9 and first == again
    other = np.frombuffer(soundtrack_of(clips("480p_seed12")[0]), np.int16).astype(np.float32)
    assert np.abs(other - np.frombuffer(first, np.int16)[:len(other)]).mean() > 100


def test_another_seed_moves_the_camera_differently(clips):
    a = read_frames(clips("480p")[0], [60, 100])
    b = read_frames(clips("480p_seed12")[0], [60, 100])
    assert mad(a[0], b[0]) > 10 and mad(a[1], b[1]) > 10


def test_seeds_choose_among_many_camera_moves():
    moves = {plan_camera(seed).name for seed in range(60)}
    assert len(moves) >= 6 and "static" not in moves


def test_clip_ends_exactly_on_the_last_image(clips):
    path, _ = clips("last_image")
    first, last = read_frames(path, [0, -1])
    # ENDING is square, the clip 16:9: it is centre-cropped to match.
    expected = np.asarray(fit_to_size(ENDING, OUTPUT_SIZES["480p"]["16:9"]))
    assert mad(last, expected) < 6
    assert mad(first, expected) > 40


def test_camera_fixed_changes_the_light_but_not_the_view(clips):
    fixed = read_frames(clips("fixed")[0], list(range(0, 96, 4)))
    moving = read_frames(clips("moving")[0], list(range(0, 96, 4)))
    steps = [mad(a, b) for a, b in pairwise(fixed)]
    assert max(steps) > 0.5, "a fixed camera clip should still not be a still picture"
    assert max(steps) < 8
    detail_change = mad(edges(fixed[0]), edges(fixed[len(fixed) // 2]))
    moving_detail_change = mad(edges(moving[0]), edges(moving[len(moving) // 2]))
    assert detail_change < 2 < 4 * detail_change < moving_detail_change


def test_zoom_in_and_zoom_out_prompts_move_the_camera_opposite_ways(clips):
    zoom_in = zoom_between(*read_frames(clips("zoom_in")[0], [0, -1]))
    zoom_out = zoom_between(*read_frames(clips("zoom_out")[0], [0, -1]))
    assert zoom_in > 1.08
    assert zoom_out < 0.92


def test_models_look_and_move_differently_at_one_seed_and_each_keeps_its_clip(tmp_path):
    """A sweep compares models at one seed: their previews must differ plainly, and each must render the same clip
    again (a model no catalogue has seen included)."""
    models = (SPICY, STANDARD, "acme/never-seen-before/image-to-video")
    settings = dict(resolution="480p", aspect_ratio="16:9", duration=2, seed=11, generate_audio=False)

    def frames(model: str, name: str) -> list[np.ndarray]:
        render_video(LANDSCAPE, tmp_path / f"{name}.mp4", model_id=model, **settings)
        return read_frames(tmp_path / f"{name}.mp4", [0, 24, 47])

    clips = {model: frames(model, f"model{i}") for i, model in enumerate(models)}
    for a, b in combinations(models, 2):
        assert min(mad(x, y) for x, y in zip(clips[a][1:], clips[b][1:], strict=True)) > 10, (a, b)
    # Only the default model keeps the plain picture; the others are graded from the first frame on.
    assert mad(clips[SPICY][0], clips[STANDARD][0]) > 10
    assert look_for(SPICY).plain and not look_for(STANDARD).plain
    again = frames(STANDARD, "again")
    assert max(mad(x, y) for x, y in zip(again, clips[STANDARD], strict=True)) < 0.01


@pytest.mark.parametrize(
    ("prompt", "motion"),
    [
        ("Zoom in slowly on her face", "zoom_in"),
        ("the camera pulls back", "zoom_out"),
        ("pan left across the skyline", "pan_left"),
        ("slow pan to the right", "pan_right"),
        ("tilt up to the sky", "tilt_up"),
        ("tilting down to the river", "tilt_down"),
        ("a still, locked-off shot", "static"),
        ("the camera orbits the statue", "orbit"),
        ("a cat on a sofa", None),
        (None, None),
    ],
)
def test_prompt_words_choose_the_camera_move(prompt, motion):
    assert motion_from_prompt(prompt) == motion
    if motion is not None:
        assert plan_camera(123, prompt).name == motion


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"resolution": "4k"}, "resolution"), ({"aspect_ratio": "2:1"}, "aspect_ratio"), ({"duration": 0}, "duration")],
)
def test_unsupported_parameters_are_refused_before_anything_is_written(tmp_path, kwargs, field):
    out = tmp_path / "clip.mp4"
    with pytest.raises(ValueError, match=field):
        render_video(LANDSCAPE, out, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_an_ffmpeg_failure_raises_with_its_message_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "X264_PRESET", "no-such-preset")
    out = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError, match="ffmpeg") as failure:
        render_video(LANDSCAPE, out, resolution="480p", duration=4)
    assert "preset" in str(failure.value).lower()
    assert list(tmp_path.iterdir()) == []
