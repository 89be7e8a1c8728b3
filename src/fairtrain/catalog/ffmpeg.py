"""ffmpeg and ffprobe, when the Makefile has installed them: video keyframes and facts, audio decoding.

Without the tools, videos and compressed audio are still catalogued (type, size, hash, and what the probe
reads from their headers); they just carry no keyframe or Chromaprint fingerprint.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess  # runs ffmpeg/ffprobe with fixed arguments, never through a shell
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image

__all__ = ["PCM_RATE", "VideoFacts", "decode_pcm", "ffmpeg_available", "keyframe", "video_facts"]

PCM_RATE = 11025  # Chromaprint resamples to this rate itself; decoding straight to it saves the work

_TIMEOUT = 60


@cache
def _tool(name: str) -> str | None:
    return shutil.which(name)


def ffmpeg_available() -> bool:
    return _tool("ffmpeg") is not None and _tool("ffprobe") is not None


def _run(tool: str, *args: str) -> bytes | None:
    """The tool's standard output, or None when it is not installed, fails or says nothing."""
    executable = _tool(tool)
    if executable is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603
            [executable, "-v", "error", *args], capture_output=True, timeout=_TIMEOUT, check=True
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return result.stdout or None


@dataclass(frozen=True)
class VideoFacts:
    duration_ms: int | None
    width: int | None
    height: int | None


def video_facts(path: Path) -> VideoFacts | None:
    """Duration and frame size from ffprobe; None without ffprobe or when it cannot read the file."""
    output = _run("ffprobe", "-print_format", "json", "-show_format", "-show_streams", "--", str(path))
    try:
        data = json.loads(output) if output else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    video = next((s for s in data.get("streams", []) if s.get("codec_type") == "video"), None)
    duration = data.get("format", {}).get("duration")
    width = int(video["width"]) if video and video.get("width") else None
    height = int(video["height"]) if video and video.get("height") else None
    try:
        duration_ms = round(float(duration) * 1000) if duration is not None else None
    except ValueError:
        duration_ms = None
    return VideoFacts(duration_ms, width, height)


def keyframe(path: Path, *, at_ms: int) -> Image.Image | None:
    """The frame nearest ``at_ms`` as an RGB image (long side ≤ 1024 px), or None."""
    seek = f"{max(at_ms, 0) / 1000:.3f}"
    png = _run(
        "ffmpeg",
        "-nostdin",
        "-ss",
        seek,
        "-i",
        str(path),
        "-frames:v",
        "1",
        "-vf",
        "scale='min(1024,iw)':-2",
        "-f",
        "image2pipe",
        "-vcodec",
        "png",
        "-",
    )
    if png is None:
        return None
    with Image.open(io.BytesIO(png)) as frame:
        return frame.convert("RGB")


def decode_pcm(path: Path, *, max_seconds: int) -> bytes | None:
    """The first ``max_seconds`` of any audio ffmpeg reads, as mono signed 16-bit PCM at ``PCM_RATE``."""
    return _run(
        "ffmpeg",
        "-nostdin",
        "-i",
        str(path),
        "-t",
        str(max_seconds),
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(PCM_RATE),
        "-f",
        "s16le",
        "-acodec",
        "pcm_s16le",
        "-",
    )
