"""The per-file work of an import: probe, fingerprint, hash (and copy into the store).

Runs in worker processes during a scan, so its input and output are plain, picklable values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from fairtrain.catalog.ffmpeg import keyframe, video_facts
from fairtrain.catalog.fingerprints import (
    Fingerprint,
    audio_fingerprint,
    image_fingerprints,
    text_fingerprint,
)
from fairtrain.catalog.probe import MediaError, Probe, probe_bytes, probe_file
from fairtrain.catalog.store import MediaStore, hash_file

__all__ = ["Analysis", "analyse_bytes", "analyse_path"]


@dataclass(frozen=True)
class Analysis:
    sha256: str
    size: int
    kind: str
    mime: str
    title: str | None
    description: str | None
    created_at: datetime | None
    created_source: str | None
    width: int | None
    height: int | None
    duration_ms: int | None
    word_count: int | None
    fingerprints: list[Fingerprint] = field(default_factory=list)


def _fingerprints(probe: Probe, path: Path | None) -> list[Fingerprint]:
    if probe.image is not None:
        return image_fingerprints(probe.image)
    if probe.text is not None:
        minhash = text_fingerprint(probe.text)
        return [minhash] if minhash else []
    if probe.kind == "audio" and path is not None:
        chroma = audio_fingerprint(path)
        return [chroma] if chroma else []
    if probe.kind == "video" and path is not None:
        # The middle frame stands for the video: titles and fades sit at the ends.
        frame = keyframe(path, at_ms=(probe.duration_ms or 0) // 2)
        return image_fingerprints(frame) if frame is not None else []
    return []


def _analysis(probe: Probe, sha256: str, size: int, fingerprints: list[Fingerprint]) -> Analysis:
    return Analysis(
        sha256=sha256,
        size=size,
        kind=probe.kind,
        mime=probe.mime,
        title=probe.title,
        description=probe.description,
        created_at=probe.created_at,
        created_source=probe.created_source,
        width=probe.width,
        height=probe.height,
        duration_ms=probe.duration_ms,
        word_count=probe.word_count,
        fingerprints=fingerprints,
    )


def _with_video_facts(probe: Probe, path: Path) -> Probe:
    """Fill what the container headers did not say (e.g. WebM) from ffprobe, when it is installed."""
    if probe.kind != "video" or (probe.duration_ms and probe.width and probe.height):
        return probe
    facts = video_facts(path)
    if facts is None:
        return probe
    return replace(
        probe,
        duration_ms=probe.duration_ms or facts.duration_ms,
        width=probe.width or facts.width,
        height=probe.height or facts.height,
    )


def analyse_path(path: Path, *, store_root: Path | None, max_pixels: int) -> Analysis:
    """Probe and fingerprint ``path``; copy it into the store unless ``store_root`` is None (reference).

    Raises ``MediaError`` for a file that is not importable; nothing is stored then.
    """
    probe = _with_video_facts(probe_file(path, max_pixels=max_pixels), path)
    fingerprints = _fingerprints(probe, path)
    sha256, size = MediaStore(store_root).ingest(path) if store_root is not None else hash_file(path)
    return _analysis(probe, sha256, size, fingerprints)


def analyse_bytes(data: bytes, *, filename: str, store: MediaStore, max_pixels: int) -> Analysis:
    """The same for an upload held in memory; always stored (an upload has no path to reference)."""
    probe = probe_bytes(data, filename=filename, max_pixels=max_pixels)
    sha256, size = store.put_bytes(data)
    return _analysis(probe, sha256, size, _fingerprints(probe, store.path_for(sha256)))


def analyse_worker(path: str, store_root: str | None, max_pixels: int) -> tuple[Analysis | None, str, str]:
    """Process-pool entry point: (analysis, "", "") or (None, code, message); bad files never raise."""
    try:
        return (
            analyse_path(
                Path(path), store_root=Path(store_root) if store_root else None, max_pixels=max_pixels
            ),
            "",
            "",
        )
    except MediaError as exc:
        return None, exc.code, exc.message
    except FileNotFoundError:
        return None, "vanished", "the file disappeared during the scan"
    except PermissionError:
        return None, "unreadable", "permission denied"
    except IsADirectoryError:
        return None, "not_a_file", "not a regular file"
    except OSError as exc:
        return None, "unreadable", f"could not read the file: {exc.strerror or exc}"
