"""The local renderer's camera: a seeded move over a still, steered by the prompt's words.

A :class:`CameraPath` gives the zoom and view centre at each moment of a clip; :func:`plan_camera` picks one from the
seed (and, for every model but the default one, a salt drawn from the model id, so two models at one seed move
differently), and words in the prompt ("zoom in", "pan left", "static", "slowly"...) override the seeded choice.
Pure: no I/O, no frames; :mod:`.render` hands the path to ffmpeg.

>>> plan_camera(123, "a slow zoom in on her face").name
'zoom_in'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np

MAX_ZOOM = 1.5
# A continuation (video-extend) eases from the whole input frame into its move over this share of the clip.
CONTINUATION_RAMP = 0.3

MOTIONS = ("zoom_in", "zoom_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "orbit", "dolly")

# Prompt phrases that choose the camera move; checked in order, first match wins.
_PROMPT_MOTIONS: tuple[tuple[str, str], ...] = (
    (r"\b(static|still|locked|locked[- ]off|fixed camera|tripod)\b", "static"),
    (r"\b(zoom(s|ing)? out|pull(s|ing)? (back|out)|dolly(ing)? out|wide(ns|ning)? out)\b", "zoom_out"),
    (r"\b(zoom(s|ing)? in|push(es|ing)? in|dolly(ing)? in|close[- ]up)\b", "zoom_in"),
    (r"\bpan(s|ning)? (to the )?left\b", "pan_left"),
    (r"\bpan(s|ning)? (to the )?right\b", "pan_right"),
    (r"\btilt(s|ing)? up\b", "tilt_up"),
    (r"\btilt(s|ing)? down\b", "tilt_down"),
    (r"\b(orbit(s|ing)?|arc(s|ing)?|circl(e|es|ing)|rotat(e|es|ing) around)\b", "orbit"),
    (r"\b(dolly|tracking shot|track(s|ing)?)\b", "dolly"),
)


def ease(t: float) -> float:
    """Cosine ease-in-out: the camera starts and stops gently."""
    return 0.5 - 0.5 * math.cos(math.pi * max(0.0, min(1.0, t)))


@dataclass(frozen=True)
class CameraPath:
    """A camera move as zoom and view centre over normalised time t in [0, 1].

    ``x``/``y`` run from -1 to 1 across the slack the zoom leaves (so the view never leaves the image); the
    ``wobble_*`` terms add a slow seeded drift so two seeds with the same move still differ. With ``from_whole``
    the zoom starts at 1 (the whole picture, whatever the move) and eases into the move: a continuation's first
    frame is the frame it continues.
    """

    name: str
    zoom0: float = 1.0
    zoom1: float = 1.0
    x0: float = 0.0
    x1: float = 0.0
    y0: float = 0.0
    y1: float = 0.0
    orbit_radius: float = 0.0
    orbit_turns: float = 0.0
    phase: float = 0.0
    wobble: float = 0.0
    wobble_freq: float = 1.0
    from_whole: bool = False

    def at(self, t: float) -> tuple[float, float, float]:
        """(zoom, x, y) at time ``t``."""
        e = ease(t)
        zoom = self.zoom0 + (self.zoom1 - self.zoom0) * e
        if self.from_whole:
            zoom = 1 + (zoom - 1) * ease(t / CONTINUATION_RAMP)
        angle = self.phase + 2 * math.pi * self.orbit_turns * e
        x = self.x0 + (self.x1 - self.x0) * e + self.orbit_radius * math.cos(angle)
        y = self.y0 + (self.y1 - self.y0) * e + self.orbit_radius * math.sin(angle)
        # The wobble starts at zero so frame 0 is exactly the path's start.
        w = self.wobble * math.sin(2 * math.pi * self.wobble_freq * t)
        x += w * math.cos(self.phase * 1.7)
        y += w * math.sin(self.phase * 1.3)
        return zoom, max(-1.0, min(1.0, x)), max(-1.0, min(1.0, y))

    def box(self, t: float, source: tuple[int, int]) -> tuple[int, int, int, int]:
        """The move at ``t`` as ffmpeg does it: the (width, height, left, top) window of a ``source``-sized picture
        that is scaled to the output frame; x and y place it within the slack the zoom leaves."""
        sw, sh = source
        zoom, x, y = self.at(t)
        bw, bh = min(sw, round(sw / zoom)), min(sh, round(sh / zoom))
        left = min(sw - bw, max(0, round((sw - bw) / 2 * (1 + x))))
        top = min(sh - bh, max(0, round((sh - bh) / 2 * (1 + y))))
        return bw, bh, left, top


def motion_from_prompt(prompt: str | None) -> str | None:
    """The camera move a prompt asks for ("zoom in", "pan left", "static", ...), or None to let the seed choose."""
    if not prompt:
        return None
    text = prompt.lower()
    for pattern, motion in _PROMPT_MOTIONS:
        if re.search(pattern, text):
            return motion
    return None


def _speed_from_prompt(prompt: str | None) -> float:
    if not prompt:
        return 1.0
    text = prompt.lower()
    if re.search(r"\b(slow(ly)?|gentle|gently|subtle|subtly)\b", text):
        return 0.6
    if re.search(r"\b(fast|quick(ly)?|rapid(ly)?|dramatic|swift(ly)?)\b", text):
        return 1.4
    return 1.0


def plan_camera(seed: int, prompt: str | None = None, camera_fixed: bool = False, *, salt: int | None = None,
                from_whole: bool = False) -> CameraPath:
    """The seeded camera move for a clip; the prompt may name the move, ``camera_fixed`` or "static" stop it.

    ``salt`` (a model's, see :mod:`.looks`) joins the seed, so models differ at one seed; None keeps the seed's own
    move. ``from_whole`` starts on the whole picture (a continuation).
    """
    rng = np.random.default_rng(seed if salt is None else [seed, salt])
    # Draw every random number up front so the prompt changes the move, not the rest of the seeded choices.
    pick = MOTIONS[int(rng.integers(len(MOTIONS)))]
    amount = float(rng.uniform(0.18, 0.32))
    drift_x, drift_y = (float(v) for v in rng.uniform(-0.35, 0.35, size=2))
    phase = float(rng.uniform(0, 2 * math.pi))
    turns = float(rng.uniform(0.35, 0.7)) * (1 if rng.random() < 0.5 else -1)
    wobble = float(rng.uniform(0.04, 0.12))
    wobble_freq = float(rng.uniform(0.4, 1.2))
    side = 1.0 if rng.random() < 0.5 else -1.0

    asked = motion_from_prompt(prompt)
    if camera_fixed or asked == "static":
        return CameraPath("static")
    name = asked or pick
    amount = min(MAX_ZOOM - 1, amount * _speed_from_prompt(prompt))
    # Prompted moves keep their drift small so the asked-for direction dominates.
    drift = 0.4 if asked else 1.0
    common = {"phase": phase, "wobble": wobble * drift, "wobble_freq": wobble_freq}
    z = 1 + amount
    span = min(1.0, 0.35 + 2.5 * amount)
    if name == "zoom_in":
        path = CameraPath(name, 1.0, z, 0, drift_x * drift, 0, drift_y * drift, **common)
    elif name == "zoom_out":
        path = CameraPath(name, z, 1.0, drift_x * drift, 0, drift_y * drift, 0, **common)
    elif name in ("pan_left", "pan_right"):
        sign = -1 if name == "pan_left" else 1
        path = CameraPath(name, z, z, -sign * span, sign * span, drift_y * drift, -drift_y * drift, **common)
    elif name in ("tilt_up", "tilt_down"):
        sign = -1 if name == "tilt_up" else 1
        path = CameraPath(name, z, z, drift_x * drift, -drift_x * drift, -sign * span, sign * span, **common)
    elif name == "orbit":
        # Circle around the centre; the clamp in CameraPath.at keeps the view inside the image.
        path = CameraPath(name, z, z + 0.05 * side, orbit_radius=0.75, orbit_turns=turns, **common)
    else:
        path = CameraPath("dolly", 1.0, min(MAX_ZOOM, 1 + amount * 1.3), 0, side * 0.8, 0, drift_y * drift,
                          **common)
    return replace(path, from_whole=from_whole)


__all__ = ["CameraPath", "MAX_ZOOM", "MOTIONS", "ease", "motion_from_prompt", "plan_camera"]
