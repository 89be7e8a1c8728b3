"""Re-synchronise a suspect copy of an image with the creator's stored original.

Used by :func:`fairtrain.stamp.watermark.detect` when it is given the original: the suspect may be a crop, a
rescaled copy (a thumbnail, a screenshot), or a rescaled crop, with its brightness and contrast changed. The
mark lives in the original's full frame, so before decoding the suspect is mapped back onto that frame.

Alignment (:func:`align`) collects a few hypotheses for the scale and offset:

- **searched**: both images shrunk to about 256 pixels on the original's long side and compared by
  normalised cross-correlation (``cv2.matchTemplate``, ``TM_CCOEFF_NORMED``, blind to gain and offset) over 40
  log-spaced scales, either with the suspect inside the original (a crop) or the original inside the suspect
  (a screenshot with a page around the picture); the best match is refined to sub-pixel precision by
  ``cv2.findTransformECC`` (affine, also blind to gain and offset) at about 512 pixels;
- **plain crop** (scale 1) and **plain resize** (the size ratio along either side): the commonest cases,
  tried outright because a picture with little structure (a sky, a backdrop) leaves the search ambiguous
  between scale and offset.

Each scale is placed by template matching of high-passed images at up to 1,024 pixels, where grain and fine
texture pin the offset down even in a flat picture, and the placements are ranked by how well that detail
correlates once aligned. The decoder tries the best three in turn; which one is right is for the
error-correcting code and the keyed check to say, not for a correlation threshold.

Restoration (:func:`restore`) is *informed*: the original, resampled into the suspect's frame, is subtracted
from the suspect after a per-channel least-squares gain/offset fit; what is left is the mark plus whatever
the copy added. That residual is mapped back onto the original's frame and added to the original. The
decoder then sees the original's content exactly (no blur or resampling error on it, which matters because
the mark is quantised against that content) plus the surviving mark. Where the suspect does not cover the
original (cropped away), is saturated (clipped by a brightness change) or differs wildly (a visible logo,
an edit), the residual is zero: the original carries no mark, so this adds nothing that is not there.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["Alignment", "align", "restore"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

COARSE_SIDE = 256  # the original's long side for the scale search
ECC_SIDE = 512  # ... for the sub-pixel refinement of the searched scale
FINE_SIDE = 1024  # ... for placing each hypothesis and scoring it
SCALE_STEPS = 40  # log-spaced scales between a full fit and MIN_COVER of the picture
MIN_COVER = 0.5  # the suspect shows at least half the original's width or height (or the reverse)
MAX_CANDIDATES = 3  # placements handed to the decoder, best first
DETAIL_SIGMA = 4.0  # high-pass: the image minus its Gaussian blur of this sigma, in fine-level pixels
SATURATED = (1.5, 253.5)  # suspect values outside this range are clipped: no mark to read there
KERNEL = 5  # the filter fitted between the resampled original and the suspect
FIT_SAMPLES = 30_000
OUTLIER = 32.0  # a residual beyond this many levels is not the mark (a logo, an edit, a misfit edge)


@dataclass(frozen=True)
class Alignment:
    """Where the suspect sits in the original.

    ``matrix`` maps an original pixel index (x, y, 1) to a suspect pixel index (OpenCV's convention, pixel
    centres at integers). ``scale`` is suspect pixels per original pixel, ``dx``/``dy`` where the suspect's
    top-left corner falls in the original (original pixels), ``correlation`` how well the high-passed grey
    images agree once aligned (-1..1).
    """

    matrix: F64  # 2x3
    scale: float
    dx: float
    dy: float
    correlation: float


def _grey(rgb: F32) -> F32:
    return np.asarray(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114, dtype=np.float32)


def _shrink(image: F32, factor: float) -> F32:
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, size, interpolation=interpolation), dtype=np.float32)


def _detail(grey: F32) -> F32:
    blurred = np.asarray(cv2.GaussianBlur(grey, (0, 0), DETAIL_SIGMA), dtype=np.float32)
    return np.asarray(grey - blurred, dtype=np.float32)


def _h(matrix: F64) -> F64:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


def _similarity(scale: float, tx: float, ty: float) -> F64:
    """Original index -> suspect index for ``u_suspect = scale * (u_original - t)``, ``u`` = index + 0.5."""
    return np.array([[scale, 0.0, scale * (0.5 - tx) - 0.5], [0.0, scale, scale * (0.5 - ty) - 0.5]])


def _resized(factor: float) -> F64:
    """Pixel index in an image -> pixel index in that image resized by ``factor``, as a 3x3 matrix."""
    return np.array([[factor, 0.0, 0.5 * factor - 0.5], [0.0, factor, 0.5 * factor - 0.5], [0.0, 0.0, 1.0]])


def _scale_of(matrix: F64) -> float:
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def _resample(image: F32, matrix: F64, shape: tuple[int, int]) -> tuple[F32, F32]:
    """``image`` sampled on a ``shape`` (height, width) frame whose pixel index -> image index is ``matrix``,
    and the frame's coverage (1 inside the image, 0 outside). Shrinks by area first when the frame is coarser
    than the image, so that nothing aliases."""
    step = _scale_of(matrix)  # image pixels per frame pixel
    if step > 1.25:
        factor = 1.0 / step
        image = _shrink(image, factor)
        matrix = (_resized(factor) @ _h(matrix))[:2]
    size = (shape[1], shape[0])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(image, matrix, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    ones = np.ones(image.shape[:2], np.float32)
    cover = cv2.warpAffine(ones, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(warped, dtype=np.float32), np.asarray(cover, dtype=np.float32)


def _searched(original: F32, suspect: F32) -> F64 | None:
    """Scale and offset by coarse template matching over scales, refined by ECC; None if nothing matches."""
    height, width = original.shape
    s_height, s_width = suspect.shape
    factor = min(1.0, COARSE_SIDE / max(height, width))
    small = _shrink(original, factor)
    best: tuple[float, F64] | None = None
    inside = max(s_width / width, s_height / height)  # the smallest scale at which the suspect fits inside
    around = min(s_width / width, s_height / height)  # the largest at which the original fits in the suspect
    searches = (
        (np.geomspace(inside, inside / MIN_COVER, SCALE_STEPS), True),
        (np.geomspace(around * MIN_COVER, around, SCALE_STEPS), False),
    )
    # Shrink the suspect once to twice the largest size needed: each scale below then resizes a small image.
    pre = min(1.0, 2 * factor / min(inside, around * MIN_COVER))
    shrunk = _shrink(suspect, pre)
    for scales, suspect_inside in searches:
        for scale in scales:
            resized = _shrink(shrunk, factor / scale / pre)  # the suspect at the small original's scale
            image, template = (small, resized) if suspect_inside else (resized, small)
            if template.shape[0] > image.shape[0] or template.shape[1] > image.shape[1]:
                continue
            if min(template.shape) < 16 or float(template.std()) < 1e-3:
                continue
            result = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED)
            _, value, _, (x, y) = cv2.minMaxLoc(result)
            if np.isfinite(value) and (best is None or value > best[0]):
                tx, ty = (x / factor, y / factor) if suspect_inside else (-x / factor, -y / factor)
                best = (float(value), _similarity(float(scale), tx, ty))
    if best is None:
        return None
    return _ecc(original, suspect, best[1])


def _ecc(original: F32, suspect: F32, matrix: F64) -> F64:
    """ECC refinement of ``matrix`` on images about ECC_SIDE pixels across; ``matrix`` if it fails."""
    height, width = original.shape
    factor = min(1.0, ECC_SIDE / max(height, width))
    moving_factor = factor / _scale_of(matrix)
    template, moving = _shrink(original, factor), _shrink(suspect, moving_factor)
    to_original, to_moving = np.linalg.inv(_resized(factor)), _resized(moving_factor)
    warp = (to_moving @ _h(matrix) @ to_original)[:2].astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
    try:
        _, found = cv2.findTransformECC(template, moving, warp, cv2.MOTION_AFFINE, criteria, None)
    except cv2.error:
        return matrix  # no convergence (a flat picture, say): keep the template-matching estimate
    refined = (np.linalg.inv(to_moving) @ _h(np.asarray(found, np.float64)) @ _resized(factor))[:2]
    # ECC can wander off on a picture with little structure; a large jump means it did.
    if abs(_scale_of(refined) / _scale_of(matrix) - 1) > 0.05:
        return matrix
    return refined


def _placed(fine: F32, fine_factor: float, suspect: F32, scale: float) -> tuple[float, F64] | None:
    """Place the suspect at ``scale`` by matching detail at the fine level: (correlation, matrix)."""
    resized = _detail(_shrink(suspect, fine_factor / scale))
    suspect_inside = resized.shape[0] <= fine.shape[0] and resized.shape[1] <= fine.shape[1]
    original_inside = resized.shape[0] >= fine.shape[0] and resized.shape[1] >= fine.shape[1]
    if not (suspect_inside or original_inside) or min(resized.shape) < 16:
        return None
    image, template = (fine, resized) if suspect_inside else (resized, fine)
    if float(template.std()) < 1e-4:
        return None
    result = np.asarray(cv2.matchTemplate(image, template, cv2.TM_CCORR_NORMED), dtype=np.float32)
    _, value, _, (x, y) = cv2.minMaxLoc(result)
    if not np.isfinite(value):
        return None
    fx, fy = float(x) + _subpixel(result, x, y, axis=1), float(y) + _subpixel(result, x, y, axis=0)
    tx, ty = (
        (fx / fine_factor, fy / fine_factor) if suspect_inside else (-fx / fine_factor, -fy / fine_factor)
    )
    return float(value), _similarity(scale, tx, ty)


def _subpixel(result: F32, x: int, y: int, *, axis: int) -> float:
    """Parabolic interpolation of the correlation peak along one axis."""
    height, width = result.shape
    if axis == 1:
        if not 0 < x < width - 1:
            return 0.0
        left, centre, right = float(result[y, x - 1]), float(result[y, x]), float(result[y, x + 1])
    else:
        if not 0 < y < height - 1:
            return 0.0
        left, centre, right = float(result[y - 1, x]), float(result[y, x]), float(result[y + 1, x])
    curvature = left - 2 * centre + right
    return 0.0 if curvature >= 0 else float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def _score(fine: F32, fine_factor: float, suspect: F32, matrix: F64) -> float:
    """Correlation of detail between the fine-level original and the suspect resampled onto it."""
    on_fine = (_h(matrix) @ np.linalg.inv(_resized(fine_factor)))[:2]
    warped, cover = _resample(suspect, on_fine, (fine.shape[0], fine.shape[1]))
    valid = cv2.erode((cover > 0.999).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if valid.sum() < 256:
        return -1.0
    a, b = fine[valid].astype(np.float64), _detail(warped)[valid].astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else -1.0


def _distinct(matrix: F64, others: list[F64], shape: tuple[int, int]) -> bool:
    """Whether ``matrix`` puts the original's corners more than a pixel away from where every other does."""
    height, width = shape
    corners = np.array(
        [[0.0, 0.0, 1.0], [width - 1.0, 0.0, 1.0], [0.0, height - 1.0, 1.0], [width - 1.0, height - 1.0, 1.0]]
    )
    here = corners @ matrix.T
    return all(float(np.abs(here - corners @ other.T).max()) > 1.0 for other in others)


def align(suspect: F32, original: F32) -> list[Alignment]:
    """Where ``suspect`` (RGB, float32) may sit in ``original`` (RGB, float32): up to MAX_CANDIDATES distinct
    placements, the best-matching first (empty if none could be tried)."""
    grey_original, grey_suspect = _grey(original), _grey(suspect)
    height, width = grey_original.shape
    s_height, s_width = grey_suspect.shape
    fine_factor = min(1.0, FINE_SIDE / max(height, width))
    fine = _detail(_shrink(grey_original, fine_factor))
    found: list[F64] = []
    scales = {1.0, s_width / width, s_height / height}
    searched = _searched(grey_original, grey_suspect)
    if searched is not None:
        found.append(searched)
        scales.add(_scale_of(searched))
    for scale in sorted(scales):
        if any(abs(scale / other - 1) < 0.002 for other in scales if other < scale):
            continue  # a near-duplicate of a smaller one already tried
        placed = _placed(fine, fine_factor, grey_suspect, scale)
        if placed is not None:
            found.append(placed[1])
    scored = sorted(
        ((_score(fine, fine_factor, grey_suspect, matrix), matrix) for matrix in found),
        key=lambda pair: -pair[0],
    )
    kept: list[Alignment] = []
    for correlation, matrix in scored:
        if len(kept) == MAX_CANDIDATES or not _distinct(matrix, [a.matrix for a in kept], (height, width)):
            continue
        # Where the suspect's corner (u = 0, index -0.5) falls in the original.
        corner = np.linalg.solve(matrix[:, :2], np.array([-0.5, -0.5]) - matrix[:, 2]) + 0.5
        kept.append(Alignment(matrix, _scale_of(matrix), float(corner[0]), float(corner[1]), correlation))
    return kept


def _filter_fit(host: F32, suspect: F32, usable: npt.NDArray[np.bool_]) -> tuple[F64, float]:
    """Least-squares ``suspect ~ kernel * host + offset`` over a sample of usable pixels: the kernel absorbs a
    gain, a sub-pixel misfit and whatever blur or resampling filter the copy went through."""
    radius = KERNEL // 2
    height, width = host.shape
    inner = np.zeros_like(usable)
    inner[radius : height - radius, radius : width - radius] = usable[
        radius : height - radius, radius : width - radius
    ]
    ys, xs = np.nonzero(inner)
    if ys.size < 4 * KERNEL * KERNEL:
        return np.eye(1) * 1.0, 0.0
    # A fixed sample (with repeats, which do not matter here): fast, and the same fit every time.
    pick = np.random.default_rng(0).integers(0, ys.size, size=min(ys.size, FIT_SAMPLES))
    ys, xs = ys[pick], xs[pick]
    offsets = np.arange(-radius, radius + 1)
    rows = (ys[:, None] + np.repeat(offsets, KERNEL)[None, :]).reshape(-1)
    cols = (xs[:, None] + np.tile(offsets, KERNEL)[None, :]).reshape(-1)
    patches = host[rows, cols].reshape(ys.size, KERNEL * KERNEL)
    design = np.hstack([patches, np.ones((ys.size, 1), np.float32)]).astype(np.float64)
    # Normal equations: 26 unknowns, well within float64's reach and much faster than lstsq.
    gram = design.T @ design + 1e-6 * np.eye(design.shape[1])
    solution = np.linalg.solve(gram, design.T @ suspect[ys, xs].astype(np.float64))
    return np.asarray(solution[:-1], np.float64).reshape(KERNEL, KERNEL), float(solution[-1])


def restore(suspect: F32, original: F32, alignment: Alignment) -> tuple[F32, dict[str, float]]:
    """The original plus what the suspect adds to it (the mark, among others), in the original's frame; and
    the photometric fit."""
    height, width = original.shape[:2]
    s_height, s_width = suspect.shape[:2]
    to_original = np.asarray(np.linalg.inv(_h(alignment.matrix))[:2], np.float64)  # suspect -> original index
    host, cover = _resample(original, to_original, (s_height, s_width))
    covered = cv2.erode((cover > 0.999).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    unsaturated = (suspect > SATURATED[0]) & (suspect < SATURATED[1])
    residual = np.zeros_like(suspect)
    known = np.zeros(suspect.shape, dtype=bool)
    gains, offsets = [], []
    for channel in range(3):
        usable = covered & unsaturated[..., channel]
        kernel, offset = _filter_fit(host[..., channel], suspect[..., channel], usable)
        gain = float(kernel.sum())
        if not 0.2 < gain < 5.0:  # no usable fit (a one-colour picture, say): a plain offset
            kernel, gain = np.eye(1), 1.0
            offset = (
                float(np.mean(suspect[..., channel][usable] - host[..., channel][usable]))
                if usable.any()
                else 0.0
            )
        predicted = cv2.filter2D(
            host[..., channel], cv2.CV_32F, kernel.astype(np.float32), borderType=cv2.BORDER_REPLICATE
        )
        residual[..., channel] = (suspect[..., channel] - predicted - offset) / gain
        known[..., channel] = usable
        gains.append(gain)
        offsets.append(offset)
    # The mark is the same in every channel: where one is clipped, take it from the others.
    count = known.sum(axis=2)
    mean = np.where(count > 0, (residual * known).sum(axis=2) / np.maximum(count, 1), 0.0)
    residual = np.where(known, residual, mean[..., None]).astype(np.float32)
    residual[(count == 0) | np.any(np.abs(residual) > OUTLIER, axis=2)] = 0.0
    back, back_cover = _resample(residual, alignment.matrix, (height, width))
    restored = original + back * back_cover[..., None]
    transform = {
        "scale": alignment.scale,
        "dx": alignment.dx,
        "dy": alignment.dy,
        "correlation": alignment.correlation,
        "gain": float(np.mean(gains)),
        "offset": float(np.mean(offsets)),
        "covered": float(back_cover.mean()),
    }
    return np.clip(restored, 0, 255).astype(np.float32), transform
