"""The preview's soundtrack: a seeded ambient pad, mono, exactly as long as the clip.

>>> len(synthesize_audio(3, 0.5))
24000
"""

from __future__ import annotations

import wave
from functools import lru_cache
from pathlib import Path

import numpy as np

AUDIO_SAMPLE_RATE = 48_000
# The pad holds nothing above about 4 kHz, so the renderer makes it at this rate (a third of the work) and ffmpeg
# resamples it to AUDIO_SAMPLE_RATE for the AAC track.
SYNTH_SAMPLE_RATE = 16_000


def synthesize_audio(seed: int, seconds: float, sample_rate: int = AUDIO_SAMPLE_RATE) -> np.ndarray:
    """A seeded ambient pad (a few sine tones) over band-passed noise, mono int16, exactly ``seconds`` long."""
    rng = np.random.default_rng([seed, 0xA0D10])
    n = int(round(seconds * sample_rate))
    t = np.arange(n, dtype=np.float32) / np.float32(sample_rate)
    # The slow swells are drawn about 100 times a second, on a grid of whole samples, and interpolated linearly
    # segment by segment (a broadcast, no search): a tiny share of the work, no audible difference.
    step = max(1, sample_rate // 100)
    segments = -(-n // step)
    coarse = np.arange(segments + 1, dtype=np.float32) * np.float32(step / sample_rate)
    ramp = np.arange(step, dtype=np.float32) / np.float32(step)

    def slow_wave(low: float, high: float) -> np.ndarray:
        wave_ = np.sin(2 * np.pi * rng.uniform(low, high) * coarse + rng.uniform(0, 2 * np.pi)).astype(np.float32)
        return (wave_[:-1, None] + np.diff(wave_)[:, None] * ramp).ravel()[:n]

    root = 110.0 * 2 ** (int(rng.integers(0, 12)) / 12)
    intervals = [0, int(rng.choice([3, 4])), 7, 12 + int(rng.choice([0, 2, 7]))]
    signal = np.zeros(n, np.float32)
    for semitones in intervals:
        freq = root * 2 ** (semitones / 12) * (1 + rng.uniform(-0.002, 0.002))
        swell = 0.6 + 0.4 * slow_wave(0.05, 0.3)
        phase = np.float32(rng.uniform(0, 2 * np.pi))
        signal += swell * np.sin(np.float32(2 * np.pi * freq) * t + phase) / len(intervals)
    # Noise band-passed in the frequency domain (no per-sample loop) sounds like air or distant surf. White noise's
    # spectrum is complex Gaussian noise itself, so it is drawn there directly (no forward FFT).
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    spectrum = rng.standard_normal(2 * len(freqs), dtype=np.float32).view(np.complex64)
    centre, width = rng.uniform(300, 1500), rng.uniform(200, 800)
    spectrum *= np.exp(-(((freqs - centre) / width) ** 2))
    noise = np.fft.irfft(spectrum, n).astype(np.float32)
    noise /= max(1e-9, float(np.abs(noise).max()))
    surf = 0.5 + 0.5 * slow_wave(0.08, 0.25)
    signal = 0.7 * signal + 0.3 * noise * surf
    fade = np.minimum(1.0, np.minimum(t / 0.3, (seconds - t) / 0.5))
    signal *= np.clip(fade, 0.0, 1.0)
    peak = max(1e-9, float(np.abs(signal).max()))
    return (signal / peak * 0.35 * 32767).astype(np.int16)


@lru_cache(maxsize=16)
def soundtrack(seed: int, seconds: int) -> np.ndarray:
    """The clip's track at SYNTH_SAMPLE_RATE, kept for the last few (seed, duration) pairs: a sweep across models or
    resolutions at one seed makes it once. Read-only, as it is shared."""
    samples = synthesize_audio(seed, float(seconds), SYNTH_SAMPLE_RATE)
    samples.flags.writeable = False
    return samples


def write_wav(path: Path, samples: np.ndarray, sample_rate: int = AUDIO_SAMPLE_RATE) -> None:
    """Write mono int16 ``samples`` as a WAV file."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.tobytes())


__all__ = ["AUDIO_SAMPLE_RATE", "SYNTH_SAMPLE_RATE", "soundtrack", "synthesize_audio", "write_wav"]
