from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fairtrain.catalog import ffmpeg
from fairtrain.catalog.analyse import analyse_path
from fairtrain.catalog.fingerprints import hamming

if shutil.which("ffmpeg") is None:
    if os.environ.get("CI"):
        raise RuntimeError("ffmpeg is missing: `make test` installs it (Debian package ffmpeg)")
    pytest.skip("ffmpeg is not installed (make test installs it)", allow_module_level=True)


def _clip(path: Path, *, pattern: str = "testsrc", seconds: int = 2, size: str = "320x240") -> Path:
    codec = ["-c:v", "libvpx", "-b:v", "200k"] if path.suffix == ".webm" else ["-c:v", "mpeg4"]
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-nostdin",
            "-f",
            "lavfi",
            "-i",
            f"{pattern}=duration={seconds}:size={size}:rate=10",
            *codec,
            "-y",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


def test_mp4_gets_facts_and_a_keyframe_fingerprint(tmp_path: Path) -> None:
    analysis = analyse_path(_clip(tmp_path / "clip.mp4"), store_root=None, max_pixels=10**8)
    assert (analysis.kind, analysis.mime) == ("video", "video/mp4")
    assert (analysis.width, analysis.height) == (320, 240)
    assert analysis.duration_ms is not None and 1800 <= analysis.duration_ms <= 2200
    assert {f.algorithm for f in analysis.fingerprints} == {"phash64", "dhash64", "pdq256"}


def test_webm_facts_come_from_ffprobe(tmp_path: Path) -> None:
    analysis = analyse_path(_clip(tmp_path / "clip.webm"), store_root=None, max_pixels=10**8)
    assert analysis.mime == "video/webm"
    assert (analysis.width, analysis.height) == (320, 240)
    assert analysis.duration_ms is not None and 1800 <= analysis.duration_ms <= 2200


def test_re_encoded_video_stays_near_and_another_does_not(tmp_path: Path) -> None:
    first = analyse_path(_clip(tmp_path / "a.mp4"), store_root=None, max_pixels=10**8)
    smaller = analyse_path(_clip(tmp_path / "b.mp4", size="160x120"), store_root=None, max_pixels=10**8)
    other = analyse_path(_clip(tmp_path / "c.mp4", pattern="smptebars"), store_root=None, max_pixels=10**8)
    phash = {
        a: {f.algorithm: f.value for f in x.fingerprints}["phash64"]
        for a, x in (("first", first), ("smaller", smaller), ("other", other))
    }
    assert hamming(phash["first"], phash["smaller"]) <= 10
    assert hamming(phash["first"], phash["other"]) > 10


def test_without_ffmpeg_videos_import_without_fingerprints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    monkeypatch.setattr(ffmpeg, "_tool", lambda name: None)
    analysis = analyse_path(clip, store_root=None, max_pixels=10**8)
    assert analysis.kind == "video" and analysis.fingerprints == []
    assert analysis.width == 320  # still read from the MP4 header


@pytest.mark.parametrize(
    ("suffix", "codec"), [(".mp3", "libmp3lame"), (".flac", "flac"), (".ogg", "libvorbis")]
)
def test_compressed_audio_is_fingerprinted_through_ffmpeg(tmp_path: Path, suffix: str, codec: str) -> None:
    from fairtrain.catalog.fingerprints import audio_fingerprint, chromaprint_available, chromaprint_bit_error
    from tests.catalog.test_fingerprints import A_FLAT_MAJOR, C_MAJOR, F_SHARP_MINOR, _write_wav

    if not chromaprint_available() and not os.environ.get("CI"):
        pytest.skip("libchromaprint1 is not installed (make test installs it)")
    progression = [C_MAJOR, F_SHARP_MINOR, A_FLAT_MAJOR] * 4
    wav = _write_wav(tmp_path / "song.wav", progression)
    other = _write_wav(tmp_path / "other.wav", [A_FLAT_MAJOR, C_MAJOR] * 6)
    encoded = tmp_path / f"song{suffix}"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(wav), "-c:a", codec, "-y", str(encoded)],
        check=True,
        timeout=60,
    )
    original, compressed, different = (audio_fingerprint(p) for p in (wav, encoded, other))
    assert original is not None and compressed is not None and different is not None
    assert chromaprint_bit_error(original.value, compressed.value) < 0.1
    assert chromaprint_bit_error(compressed.value, different.value) > 0.15
    analysis = analyse_path(encoded, store_root=None, max_pixels=10**8)
    assert analysis.kind == "audio" and [f.algorithm for f in analysis.fingerprints] == ["chromaprint"]
