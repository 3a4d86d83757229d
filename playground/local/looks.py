"""Each model's look on the local preview, so a comparison of models at one seed shows a difference.

The model id is hashed into a colour grade (one of :data:`GRADES`, nudged per model), a vignette and a salt that
joins the seed in choosing the camera move (:func:`.camera.plan_camera`). The look is stable per model, so a
(model, seed) pair always renders the same clip. The default model keeps the plain look and the seed's own move.

>>> look_for("bytedance/seedance-v1.5-pro/image-to-video-spicy").plain
True
>>> look_for("bytedance/seedance-2.0/text-to-video").plain
False
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from PIL import Image

from playground.contract import SPICY

# The model whose clips keep the plain look and the seed's own camera move (the playground's default).
PLAIN_MODEL = SPICY

# (name, RGB gains, saturation, contrast, lift in 0-255, gamma): distinct enough to tell apart at a glance.
GRADES: tuple[tuple[str, tuple[float, float, float], float, float, float, float], ...] = (
    ("warm film", (1.10, 1.00, 0.82), 0.95, 1.06, 6.0, 0.95),
    ("cool steel", (0.86, 0.98, 1.14), 0.80, 1.08, 0.0, 1.0),
    ("faded matte", (1.00, 1.00, 0.96), 0.70, 0.80, 30.0, 1.0),
    ("vivid", (1.00, 1.00, 1.00), 1.45, 1.12, 0.0, 1.0),
    ("sepia", (1.14, 0.98, 0.76), 0.05, 1.04, 8.0, 1.0),
    ("bleach bypass", (1.00, 1.00, 1.00), 0.40, 1.30, 0.0, 1.05),
    ("night", (0.72, 0.86, 1.12), 0.70, 1.05, 0.0, 1.30),
    ("golden hour", (1.16, 1.04, 0.78), 1.15, 1.00, 4.0, 0.92),
)
_LUMA = (0.2126, 0.7152, 0.0722)  # BT.709, the matrix the clips are encoded with


@dataclass(frozen=True)
class Look:
    """A model's look: a grade applied to the still, a vignette (lens angle in radians, 0: none) and a motion salt."""

    name: str
    salt: int | None = None
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    saturation: float = 1.0
    contrast: float = 1.0
    lift: float = 0.0
    gamma: float = 1.0
    vignette: float = 0.0

    @property
    def has_grade(self) -> bool:
        return not (self.gains == (1.0, 1.0, 1.0) and self.saturation == 1.0 and self.contrast == 1.0
                    and self.lift == 0.0 and self.gamma == 1.0)

    @property
    def plain(self) -> bool:
        """True when the look changes no pixel (only, perhaps, the camera move)."""
        return not self.has_grade and self.vignette == 0.0

    def without_grade(self) -> Look:
        """The same camera salt with no grade or vignette: a continuation must start on the frame it continues."""
        return Look(self.name, self.salt)

    def grade(self, image: Image.Image) -> Image.Image:
        """``image`` (RGB) with the grade applied: one colour matrix, then one tone curve."""
        if not self.has_grade:
            return image
        s, (kr, kg, kb) = self.saturation, _LUMA
        # Saturation mixes each channel with the luma; the gains then tint the result.
        rows = [[(1 - s) * kr + (s if i == 0 else 0), (1 - s) * kg + (s if i == 1 else 0),
                 (1 - s) * kb + (s if i == 2 else 0)] for i in range(3)]
        matrix = tuple(v for i, row in enumerate(rows) for v in ([c * self.gains[i] for c in row] + [0.0]))
        mixed = image.convert("RGB", matrix)
        return mixed.point(self._curve() * 3)

    def _curve(self) -> list[int]:
        out = []
        for v in range(256):
            x = ((v / 255 - 0.5) * self.contrast + 0.5)
            x = max(0.0, min(1.0, x)) ** self.gamma
            out.append(int(round(max(0.0, min(255.0, self.lift + x * (255 - self.lift))))))
        return out


def look_for(model_id: str) -> Look:
    """The look of ``model_id``: plain for :data:`PLAIN_MODEL`, else drawn from a hash of the id."""
    if model_id == PLAIN_MODEL:
        return Look("plain")
    digest = hashlib.sha256(model_id.encode("utf-8")).digest()
    name, gains, saturation, contrast, lift, gamma = GRADES[digest[4] % len(GRADES)]
    nudge = [(b / 255 - 0.5) * 0.06 for b in digest[5:8]]  # up to +-3% per channel, so ids sharing a grade differ
    return Look(
        name=name,
        salt=int.from_bytes(digest[:4], "big"),
        gains=tuple(round(g + n, 4) for g, n in zip(gains, nudge, strict=True)),
        saturation=saturation, contrast=contrast, lift=lift, gamma=gamma,
        vignette=round(0.35 + digest[8] / 255 * 0.3, 3),
    )


__all__ = ["GRADES", "Look", "PLAIN_MODEL", "look_for"]
