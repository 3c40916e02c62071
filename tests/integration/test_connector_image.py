"""The image connector: every action called directly, its refusals of corrupt images and
decompression bombs, and image and pdf nodes run through the local engine on a MemoryStore."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from typing import Any

import pytest
from connector_support import action_callers, chain
from PIL import Image, ImageChops
from pydantic import ValidationError
from pypdf import PdfReader

from flowforge.connectors import Context, Registry
from flowforge.connectors import flow as flow_connector
from flowforge.connectors import pdf as pdf_connector
from flowforge.connectors.image import MAX_PIXELS, connector
from flowforge.connectors.sdk import Blob
from flowforge.engine.local import LocalEngine
from flowforge.store import MemoryStore


def make_ctx() -> Context:
    return Context.standalone("image.test", blobs=MemoryStore())


@pytest.fixture
def ctx() -> Context:
    return make_ctx()


call, refused = action_callers(connector)


def picture(
    ctx: Context, size: tuple[int, int] = (200, 100), fmt: str = "PNG", **save: Any
) -> dict[str, Any]:
    """A test image: left half red, right half blue, stored; gives the Blob as JSON."""
    image = Image.new("RGB", size, "red")
    image.paste(Image.new("RGB", (size[0] // 2, size[1]), "blue"), (size[0] // 2, 0))
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return ctx.put_blob(out.getvalue(), f"image/{fmt.lower()}", f"test.{fmt.lower()}").model_dump()


def decoded(ctx: Context, out: dict[str, Any]) -> Image.Image:
    image = Image.open(io.BytesIO(ctx.read_blob(Blob.model_validate(out["image"]))))
    image.load()
    return image


def test_resize_keeps_the_aspect_or_not(ctx: Context) -> None:
    blob = picture(ctx)
    out = call("resize", {"image": blob, "width": 100}, ctx)
    assert (out["width"], out["height"], out["format"]) == (100, 50, "png")
    assert decoded(ctx, out).size == (100, 50)
    assert out["image"]["media_type"] == "image/png" and out["image"]["name"] == "test.png"
    fit = call("resize", {"image": blob, "width": 100, "height": 100}, ctx)
    assert (fit["width"], fit["height"]) == (100, 50)
    exact = call("resize", {"image": blob, "width": 30, "height": 90, "keep_aspect": False}, ctx)
    assert decoded(ctx, exact).size == (30, 90)
    assert "at least one" in refused("resize", {"image": blob}, ctx, "InvalidParameter")


def test_crop_cuts_the_area_and_refuses_one_outside(ctx: Context) -> None:
    blob = picture(ctx)
    out = call("crop", {"image": blob, "left": 100, "top": 0, "width": 100, "height": 100}, ctx)
    image = decoded(ctx, out)
    assert image.size == (100, 100)
    assert image.getpixel((50, 50)) == (0, 0, 255)  # the blue half
    message = refused(
        "crop",
        {"image": blob, "left": 150, "top": 0, "width": 100, "height": 10},
        ctx,
        "InvalidParameter",
    )
    assert "outside the 200x100 image" in message


def test_rotate_by_right_angles_and_by_any_angle(ctx: Context) -> None:
    blob = picture(ctx)
    out = call("rotate", {"image": blob, "degrees": 90}, ctx)
    image = decoded(ctx, out)
    assert image.size == (100, 200)
    assert image.getpixel((50, 10)) == (0, 0, 255)  # counter-clockwise: the right half on top
    tilted = call("rotate", {"image": blob, "degrees": 45, "fill": "#00ff00"}, ctx)
    assert tilted["width"] > 200 and tilted["height"] > 200
    assert decoded(ctx, tilted).getpixel((0, 0)) == (0, 255, 0)
    assert "not a colour" in refused(
        "rotate", {"image": blob, "degrees": 10, "fill": "nope"}, ctx, "InvalidParameter"
    )


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp", "gif", "bmp", "tiff"])
def test_convert_to_every_format(ctx: Context, fmt: str) -> None:
    rgba = Image.new("RGBA", (40, 30), (255, 0, 0, 128))
    data = io.BytesIO()
    rgba.save(data, format="PNG")
    blob = ctx.put_blob(data.getvalue(), "image/png", "alpha.png").model_dump()
    out = call("convert", {"image": blob, "format": fmt}, ctx)
    image = decoded(ctx, out)
    assert image.format == {"jpeg": "JPEG"}.get(fmt, fmt.upper())
    assert image.size == (40, 30)
    assert out["image"]["name"] == f"alpha.{'jpg' if fmt == 'jpeg' else fmt}"


def test_thumbnail_never_enlarges(ctx: Context) -> None:
    out = call("thumbnail", {"image": picture(ctx, (800, 400)), "size": 64}, ctx)
    assert (out["width"], out["height"]) == (64, 32)
    small = call("thumbnail", {"image": picture(ctx, (20, 10)), "size": 64}, ctx)
    assert (small["width"], small["height"]) == (20, 10)
    with pytest.raises(ValidationError):
        connector.actions["thumbnail"].input_model.model_validate(
            {"image": picture(ctx), "size": 5000}
        )


def test_compress_makes_a_smaller_jpeg(ctx: Context) -> None:
    noisy = Image.effect_noise((400, 400), 80).convert("RGB")
    data = io.BytesIO()
    noisy.save(data, format="PNG")
    blob = ctx.put_blob(data.getvalue(), "image/png", "noise.png").model_dump()
    out = call("compress", {"image": blob, "format": "jpeg", "quality": 30, "max_side": 200}, ctx)
    assert out["size"] < out["original_size"] / 4
    assert (out["width"], out["height"], out["format"]) == (200, 200, "jpeg")
    assert decoded(ctx, out).format == "JPEG"


def test_metadata_with_exif_as_plain_values(ctx: Context) -> None:
    exif = Image.Exif()
    exif[0x010F] = "FlowCam"  # Make
    exif[0x0112] = 6  # Orientation: rotated
    exif.get_ifd(0x8769)[0x829A] = 0.004  # ExposureTime, a rational
    blob = picture(ctx, (64, 32), "JPEG", exif=exif, dpi=(300, 300))
    out = call("metadata", {"image": blob}, ctx)
    assert (out["width"], out["height"], out["mode"], out["format"]) == (64, 32, "RGB", "jpeg")
    assert out["frames"] == 1 and out["has_alpha"] is False
    assert out["dpi"] == [300.0, 300.0]
    assert out["exif"]["Make"] == "FlowCam"
    assert out["exif"]["Orientation"] == 6
    assert out["exif"]["ExposureTime"] == pytest.approx(0.004)
    # transforms turn the picture upright first, as viewers show it
    upright = call("resize", {"image": blob, "height": 64}, ctx)
    assert (upright["width"], upright["height"]) == (32, 64)


def test_watermark_draws_text(ctx: Context) -> None:
    blob = picture(ctx, (400, 200))
    out = call(
        "watermark",
        {
            "image": blob,
            "text": "DRAFT",
            "position": "center",
            "color": "#ffffff",
            "opacity": 1,
            "font_size": 40,
        },
        ctx,
    )
    before = Image.open(io.BytesIO(ctx.read_blob(Blob.model_validate(blob)))).convert("RGB")
    after = decoded(ctx, out)
    assert after.size == (400, 200) and after.mode == "RGB"
    box = ImageChops.difference(before, after).getbbox()
    assert box is not None  # the text is drawn, around the middle
    left, top, right, bottom = box
    assert left < 200 < right and top < 100 < bottom and right - left > 50
    corner = call("watermark", {"image": blob, "text": "x", "position": "top-left"}, ctx)
    assert decoded(ctx, corner).getpixel((399, 199)) == (0, 0, 255)


# -- hostile input


def test_corrupt_and_unknown_images_are_clear_errors(ctx: Context) -> None:
    data = io.BytesIO()
    Image.new("RGB", (300, 300), "green").save(data, format="PNG")
    truncated = ctx.put_blob(data.getvalue()[:200], "image/png", "cut.png").model_dump()
    assert "corrupt or truncated" in refused("metadata", {"image": truncated}, ctx, "InvalidImage")
    text = ctx.put_blob(b"hello, not an image").model_dump()
    message = refused("resize", {"image": text, "width": 10}, ctx, "InvalidImage")
    assert message.startswith("image: not an image in a supported format")
    eps = ctx.put_blob(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n").model_dump()
    assert "supported format" in refused("metadata", {"image": eps}, ctx, "InvalidImage")
    ghost = Blob(blob="b" * 64, size=10).model_dump()
    assert refused("metadata", {"image": ghost}, ctx, "BlobNotFound").startswith("image:")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge size with almost no data: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("width", "height"),
    [(8000, 7000), (12_000, 12_000)],  # over the limit (Pillow warns), over twice (Pillow errors)
)
def test_decompression_bombs_are_refused_before_decoding(
    ctx: Context, width: int, height: int
) -> None:
    assert width * height > MAX_PIXELS
    bomb = ctx.put_blob(_png_header_only(width, height), "image/png", "bomb.png").model_dump()
    message = refused("thumbnail", {"image": bomb}, ctx, "TooLarge")
    assert message.startswith("image:") and "decompression bomb" in message


def test_output_dimensions_are_bounded(ctx: Context) -> None:
    blob = picture(ctx, (10, 10))
    with pytest.raises(ValidationError):
        connector.actions["resize"].input_model.model_validate({"image": blob, "width": 100_000})
    message = refused("resize", {"image": blob, "width": 19_000, "height": 19_000}, ctx, "TooLarge")
    assert message.startswith("output:")
    wide = picture(ctx, (5000, 1))
    assert refused("resize", {"image": wide, "height": 3000}, ctx, "TooLarge").startswith("output:")


# -- through the engine


workflow = functools.partial(chain, "media")


async def test_image_and_pdf_actions_as_workflow_nodes() -> None:
    store = MemoryStore()
    data = io.BytesIO()
    Image.new("RGB", (640, 480), "orange").save(data, format="JPEG")
    photo = store.put_blob(data.getvalue(), "image/jpeg", "photo.jpg")
    registry = Registry([flow_connector.connector, connector, pdf_connector.connector])
    async with LocalEngine(store, registry) as engine:
        w = workflow(
            [
                {"id": "start", "type": "flow.start"},
                {
                    "id": "thumb",
                    "type": "image.thumbnail",
                    "params": {"image": "{{ trigger.photo }}", "size": 160, "format": "png"},
                },
                {
                    "id": "doc",
                    "type": "pdf.from_images",
                    "params": {"images": ["{{ nodes.thumb.output.image }}"], "name": "t.pdf"},
                },
            ],
            output="{{ nodes.doc.output }}",
        )
        result = await engine.run(w, {"photo": photo.model_dump()})
        assert result.ok, result.error
        blob = Blob.model_validate(result.result["pdf"])
        assert result.result["pages"] == 1 and blob.media_type == "application/pdf"
        reader = PdfReader(io.BytesIO(store.get_blob(blob.blob)))
        assert len(reader.pages) == 1
        assert float(reader.pages[0].mediabox.width) == pytest.approx(160 * 72 / 150)

        bad = workflow(
            [
                {"id": "start", "type": "flow.start"},
                {"id": "m", "type": "image.metadata", "params": {"image": "{{ trigger.b }}"}},
            ]
        )
        junk = store.put_blob(b"junk", "image/png", "junk.png")
        result = await engine.run(bad, {"b": junk.model_dump()})
        assert not result.ok and result.error is not None
        assert "not an image in a supported format" in str(result.error)
