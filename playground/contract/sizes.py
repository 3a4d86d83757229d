"""What the outputs and inputs measure: output sizes by resolution and ratio, frames per second, input image limits,
the prompt limit, and how long a clip typically takes. Pure facts from the verified contract.
"""

from __future__ import annotations

from dataclasses import dataclass

FPS = 24
ASPECT_RATIOS: tuple[str, ...] = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
RESOLUTIONS: tuple[str, ...] = ("480p", "720p", "1080p")
SEED_MAX = 2_147_483_647
# No source states a prompt limit (seed page, contract); 5,000 characters is far above any real prompt and refuses a
# pasted file or a runaway string before it is paid for.
PROMPT_MAX_CHARS = 5_000

# Seedance 1.5 Pro output sizes (width, height), contract table (V).
OUTPUT_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"21:9": (992, 432), "16:9": (864, 496), "4:3": (752, 560),
             "1:1": (640, 640), "3:4": (560, 752), "9:16": (496, 864)},
    "720p": {"21:9": (1470, 630), "16:9": (1280, 720), "4:3": (1112, 834),
             "1:1": (960, 960), "3:4": (834, 1112), "9:16": (720, 1280)},
    "1080p": {"21:9": (2206, 946), "16:9": (1920, 1080), "4:3": (1664, 1248),
              "1:1": (1440, 1440), "3:4": (1248, 1664), "9:16": (1080, 1920)},
}
# Seedance 1.0 differs (V for the two rows the contract gives; the rest are scaled the same way: I).
V1_OUTPUT_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"21:9": (992, 416), "16:9": (864, 480), "4:3": (736, 544),
             "1:1": (640, 640), "3:4": (544, 736), "9:16": (480, 864)},
    "720p": {"21:9": (1504, 640), "16:9": (1248, 704), "4:3": (1120, 832),
             "1:1": (960, 960), "3:4": (832, 1120), "9:16": (704, 1248)},
    "1080p": {"21:9": (2176, 928), "16:9": (1920, 1088), "4:3": (1664, 1248),
              "1:1": (1440, 1440), "3:4": (1248, 1664), "9:16": (1088, 1920)},
}


@dataclass(frozen=True)
class ImageLimits:
    """Input image limits (V): formats, side length in px, width/height ratio, bytes per file."""

    formats: tuple[str, ...] = ("jpeg", "png", "webp", "bmp", "tiff", "gif", "heic", "heif")
    min_side: int = 300
    max_side: int = 6000
    min_ratio: float = 0.4
    max_ratio: float = 2.5
    max_bytes: int = 30 * 1024 * 1024
    max_request_bytes: int = 64 * 1024 * 1024

    @property
    def max_pixels(self) -> int:
        """The most pixels an acceptable image can have (6000x6000): anything claiming more is never decoded."""
        return self.max_side * self.max_side


IMAGE_LIMITS = ImageLimits()


def ratio_value(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


def closest_ratio(width: int, height: int) -> str:
    """The supported aspect ratio nearest to an image's (compared on a log scale, so 2:1 and 1:2 are symmetric)."""
    import math

    target = math.log(width / height)
    return min(ASPECT_RATIOS, key=lambda r: abs(math.log(ratio_value(r)) - target))


def frame_count(duration: int) -> int:
    """Frames in a clip of ``duration`` seconds: 24 per second (V)."""
    return int(duration) * FPS


# Typical inference seconds per second of video (I: no source gives figures; chosen from reported runs of
# Seedance 1.5 Pro at roughly 25 s, 45 s and 90 s for a 5 s clip). The local API's realistic mode and the
# client's first poll estimate both start from these; the client then learns from the ledger.
TYPICAL_INFERENCE_S_PER_VIDEO_S: dict[str, float] = {"480p": 5.0, "720p": 9.0, "1080p": 18.0}


def typical_inference_seconds(resolution: str, duration: int) -> float:
    """A documented guess at how long the API takes for one clip; see TYPICAL_INFERENCE_S_PER_VIDEO_S."""
    # A resolution the table lacks (4k, 540p) or a model without a duration: the 720p rate, a 5 s clip.
    return TYPICAL_INFERENCE_S_PER_VIDEO_S.get(resolution, 9.0) * (int(duration or 0) or 5)
