from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.orm import Session

from fairtrain.accounts import service
from fairtrain.accounts.avatars import AVATAR_SIZE, avatar_path, store_avatar
from fairtrain.errors import InvalidInput


def _png(width: int = 640, height: int = 480, colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def test_avatar_is_squared_and_replaces_the_previous_one(db: Session, tmp_path: Path) -> None:
    creator = service.create_creator(db, handle="ana", display_name="Ana")
    first = store_avatar(db, data_dir=tmp_path, creator=creator, data=_png())
    with Image.open(first) as image:
        assert image.size == (AVATAR_SIZE, AVATAR_SIZE)
        assert image.format == "WEBP"
    db.commit()
    second = store_avatar(db, data_dir=tmp_path, creator=creator, data=_png(300, 900, (20, 90, 160)))
    assert avatar_path(tmp_path, creator) == second
    assert first.exists()  # until the change is committed
    db.commit()
    assert not first.exists()
    db.rollback()  # a later rollback leaves the committed file alone
    assert second.exists()


def test_rolled_back_avatar_change_keeps_the_old_file(db: Session, tmp_path: Path) -> None:
    creator = service.create_creator(db, handle="ana", display_name="Ana")
    first = store_avatar(db, data_dir=tmp_path, creator=creator, data=_png())
    db.commit()
    second = store_avatar(db, data_dir=tmp_path, creator=creator, data=_png(colour=(1, 2, 3)))
    db.rollback()
    assert first.exists()
    assert not second.exists()
    db.refresh(creator)
    assert avatar_path(tmp_path, creator) == first


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"GIF89a not really", "not a JPEG"),
        (b"%PDF-1.7\n", "not a JPEG"),
    ],
)
def test_bad_avatars_change_nothing(db: Session, tmp_path: Path, data: bytes, message: str) -> None:
    creator = service.create_creator(db, handle="ana", display_name="Ana")
    good = store_avatar(db, data_dir=tmp_path, creator=creator, data=_png())
    with pytest.raises(InvalidInput, match=message):
        store_avatar(db, data_dir=tmp_path, creator=creator, data=data)
    assert avatar_path(tmp_path, creator) == good


def test_truncated_image_is_refused(db: Session, tmp_path: Path) -> None:
    creator = service.create_creator(db, handle="ana", display_name="Ana")
    with pytest.raises(InvalidInput, match=r"damaged|not a JPEG"):
        store_avatar(db, data_dir=tmp_path, creator=creator, data=_png()[:200])
    assert creator.avatar is None


def test_decompression_bomb_is_refused(db: Session, tmp_path: Path) -> None:
    creator = service.create_creator(db, handle="ana", display_name="Ana")
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, "PNG")  # 144 Mpx, a few KB compressed
    with pytest.raises(InvalidInput, match=r"too many pixels|not a JPEG"):
        store_avatar(db, data_dir=tmp_path, creator=creator, data=out.getvalue())
