"""Looking inside videos on disk, and pictures of many clips: one file per concept.

- :mod:`.probe`: what a video holds (``probe``) and its frames (``read_frames``), no ffprobe needed
- :mod:`.frames`: decoding at another size: posters, motion scores, evenly spaced frames
- :mod:`.labels`: a clip and its label (the seed and the fields that vary between clips)
- :mod:`.sheets`: contact sheets; :mod:`.tiles`: clips tiled into one video playing in sync

>>> info = probe("clip.mp4")  # doctest: +SKIP
>>> (info.width, info.height, info.fps, info.frames, info.has_audio)  # doctest: +SKIP
(864, 496, 24.0, 120, True)
"""

from .frames import motion_energy, poster, spaced_indices
from .labels import LABEL_FIELDS, Clip, clips_of, varied_fields
from .probe import NotAVideo, VideoInfo, probe, read_frames
from .sheets import contact_sheet
from .tiles import side_by_side

__all__ = ["LABEL_FIELDS", "Clip", "NotAVideo", "VideoInfo", "clips_of", "contact_sheet", "motion_energy", "poster",
           "probe", "read_frames", "side_by_side", "spaced_indices", "varied_fields"]
