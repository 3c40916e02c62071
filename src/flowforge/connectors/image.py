"""Images with Pillow: resize, crop, rotate, convert, thumbnail, compress, metadata, watermark.

Every image is opened through ``open_image``: only the formats listed in ``FORMATS`` are parsed
(Pillow's EPS plugin would start Ghostscript, for one), and anything over ``MAX_PIXELS`` is refused
before its pixels are decoded. Animated images are processed as their first frame.
"""

from __future__ import annotations

import io
import math
import warnings
from fractions import Fraction
from typing import Any, Literal

from PIL import ExifTags, Image, ImageColor, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from flowforge.connectors.sdk import ActionError, Blob, Connector, Context

__all__ = ["FORMATS", "MAX_PIXELS", "connector", "open_image", "read_input"]

connector = Connector(
    "image",
    name="Image",
    description="Resize, crop, rotate, convert and compress images; read their metadata.",
    category="Files",
    icon="image",
)

MAX_PIXELS = 50_000_000  # width x height of any image read or written
MAX_SIDE = 20_000
MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_EXIF_VALUE = 1000  # characters of one EXIF value kept in the metadata

# Pillow warns past MAX_IMAGE_PIXELS and refuses past twice that; we refuse past it (below).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

OutputFormat = Literal["png", "jpeg", "webp", "gif", "bmp", "tiff"]
FORMATS: dict[str, str] = {  # our name -> Pillow's format id
    "png": "PNG",
    "jpeg": "JPEG",
    "webp": "WEBP",
    "gif": "GIF",
    "bmp": "BMP",
    "tiff": "TIFF",
}
_READABLE = list(FORMATS.values())  # a JPEG with several pictures (MPO) opens as JPEG
_MEDIA_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
}
_FROM_PILLOW = {"MPO": "jpeg", **{v: k for k, v in FORMATS.items()}}


def _error(message: str, type: str) -> ActionError:
    return ActionError(message, retryable=False, type=type)


def read_input(ctx: Context, blob: Blob, field: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a blob parameter, refused past ``limit`` (before reading when possible)."""
    if blob.size > limit:
        raise _error(f"{field}: {blob.size:,} bytes; the limit is {limit:,}", "TooLarge")
    try:
        data = ctx.read_blob(blob)
    except ActionError as exc:
        raise ActionError(f"{field}: {exc}", retryable=exc.retryable, type=exc.type) from None
    if len(data) > limit:
        raise _error(f"{field}: {len(data):,} bytes; the limit is {limit:,}", "TooLarge")
    return data


def _check_pixels(field: str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise _error(
            f"{field}: {width}x{height} pixels is over the limit of {MAX_PIXELS:,} pixels "
            f"({MAX_SIDE:,} per side); it could be a decompression bomb",
            "TooLarge",
        )


def open_image(data: bytes, field: str) -> Image.Image:
    """Decode an image, refusing unknown formats, corrupt data and decompression bombs."""
    try:
        # catch_warnings is process-wide, so two threads here can race on the filter; the
        # explicit size check below holds either way, so a lost filter only loses the message.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_READABLE)
            _check_pixels(field, image.width, image.height)
            image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise _error(f"{field}: {exc}", "TooLarge") from None
    except UnidentifiedImageError:
        readable = ", ".join(FORMATS)
        raise _error(
            f"{field}: not an image in a supported format ({readable})", "InvalidImage"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or corrupt data
        raise _error(
            f"{field}: the image is corrupt or truncated ({exc})", "InvalidImage"
        ) from None
    return image


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ImageInput(_Params):
    image: Blob = Field(description="The image (PNG, JPEG, WebP, GIF, BMP or TIFF)")


class _Transform(_ImageInput):
    format: OutputFormat | None = Field(
        None, description="Output format; the input's format when absent"
    )
    quality: int = Field(85, ge=1, le=100, description="JPEG and WebP quality")
    name: str | None = Field(None, max_length=255, description="File name of the output")


class ImageOutput(_Params):
    image: Blob = Field(description="The resulting image")
    width: int = Field(description="Width in pixels")
    height: int = Field(description="Height in pixels")
    format: OutputFormat = Field(description="Format of the resulting image")


def _source(params: _ImageInput, ctx: Context, *, orient: bool = True) -> tuple[Image.Image, str]:
    """The decoded input (turned upright per its EXIF orientation) and our name of its format."""
    image = open_image(read_input(ctx, params.image, "image"), "image")
    source_format = _FROM_PILLOW.get(image.format or "", "png")
    if orient:
        image = ImageOps.exif_transpose(image)
    return image, source_format


def encode(image: Image.Image, fmt: str, quality: int = 85, *, optimize: bool = False) -> bytes:
    """The image in format ``fmt`` (our name), its mode adapted to what the format can hold."""
    keeps = {"jpeg": ("RGB", "L", "CMYK"), "bmp": ("RGB", "L", "P", "1")}
    if fmt in keeps and image.mode not in keeps[fmt]:
        image = _flatten(image)
    elif fmt in ("png", "webp", "gif", "tiff") and image.mode not in (
        "RGB",
        "RGBA",
        "L",
        "LA",
        "P",
        "1",
    ):
        image = image.convert("RGBA")
    options: dict[str, Any] = {}
    if fmt in ("jpeg", "webp"):
        options["quality"] = quality
    if optimize and fmt in ("jpeg", "png"):
        options["optimize"] = True
    if fmt == "tiff":
        options["compression"] = "tiff_deflate"
    out = io.BytesIO()
    image.save(out, format=FORMATS[fmt], **options)
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on a white background (for formats without transparency)."""
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _output(
    ctx: Context, image: Image.Image, params: _Transform, source_format: str
) -> ImageOutput:
    _check_pixels("output", image.width, image.height)
    fmt = params.format or source_format
    data = encode(image, fmt, params.quality)
    name = params.name or _rename(params.image.name, fmt)
    blob = ctx.put_blob(data, _MEDIA_TYPES[fmt], name)
    return ImageOutput(image=blob, width=image.width, height=image.height, format=fmt)


def _rename(name: str | None, fmt: str) -> str:
    stem = (name or "image").rsplit(".", 1)[0] or "image"
    return f"{stem}.{'jpg' if fmt == 'jpeg' else fmt}"


Resample = Literal["nearest", "bilinear", "bicubic", "lanczos"]
_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


class ResizeParams(_Transform):
    width: int | None = Field(None, ge=1, le=MAX_SIDE, description="Target width in pixels")
    height: int | None = Field(None, ge=1, le=MAX_SIDE, description="Target height in pixels")
    keep_aspect: bool = Field(
        True, description="Keep the proportions: fit inside width x height when both are given"
    )
    resample: Resample = Field("lanczos", description="Resampling filter")


@connector.action("resize", input=ResizeParams, output=ImageOutput)
def resize(params: ResizeParams, ctx: Context) -> ImageOutput:
    """Resize an image to a width, a height, or to fit inside both."""
    if params.width is None and params.height is None:
        raise _error("width, height: give at least one", "InvalidParameter")
    image, source_format = _source(params, ctx)
    w, h = image.size
    if params.width is not None and params.height is not None and not params.keep_aspect:
        size = (params.width, params.height)
    else:
        scales = []
        if params.width is not None:
            scales.append(params.width / w)
        if params.height is not None:
            scales.append(params.height / h)
        scale = min(scales)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
    _check_pixels("output", *size)
    resized = image.resize(size, _RESAMPLE[params.resample])
    return _output(ctx, resized, params, source_format)


class CropParams(_Transform):
    left: int = Field(ge=0, le=MAX_SIDE, description="Left edge in pixels")
    top: int = Field(ge=0, le=MAX_SIDE, description="Top edge in pixels")
    width: int = Field(ge=1, le=MAX_SIDE, description="Width of the kept area")
    height: int = Field(ge=1, le=MAX_SIDE, description="Height of the kept area")


@connector.action("crop", input=CropParams, output=ImageOutput)
def crop(params: CropParams, ctx: Context) -> ImageOutput:
    """Cut out a rectangle of an image."""
    image, source_format = _source(params, ctx)
    right, bottom = params.left + params.width, params.top + params.height
    if right > image.width or bottom > image.height:
        raise _error(
            f"left, top, width, height: the area ({params.left},{params.top})-({right},{bottom})"
            f" is outside the {image.width}x{image.height} image",
            "InvalidParameter",
        )
    cropped = image.crop((params.left, params.top, right, bottom))
    return _output(ctx, cropped, params, source_format)


class RotateParams(_Transform):
    degrees: float = Field(ge=-360, le=360, description="Counter-clockwise angle in degrees")
    expand: bool = Field(True, description="Grow the canvas so that nothing is cut off")
    fill: str = Field(
        "white", max_length=50, description="Colour of the uncovered corners (name or #rrggbb)"
    )


@connector.action("rotate", input=RotateParams, output=ImageOutput)
def rotate(params: RotateParams, ctx: Context) -> ImageOutput:
    """Rotate an image by an angle."""
    image, source_format = _source(params, ctx)
    fill = _colour(params.fill, "fill")
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA")
    if params.degrees % 90 == 0:  # exact, lossless and without filled corners
        turned = image.rotate(params.degrees, expand=params.expand)
    else:
        _check_pixels("output", *_rotated_size(image.size, params.degrees))
        turned = image.rotate(
            params.degrees,
            resample=Image.Resampling.BICUBIC,
            expand=params.expand,
            fillcolor=fill if image.mode == "RGB" else (*fill, 255),
        )
    return _output(ctx, turned, params, source_format)


def _rotated_size(size: tuple[int, int], degrees: float) -> tuple[int, int]:
    a = math.radians(degrees)
    w, h = size
    return (
        math.ceil(abs(w * math.cos(a)) + abs(h * math.sin(a))),
        math.ceil(abs(w * math.sin(a)) + abs(h * math.cos(a))),
    )


def _colour(value: str, field: str) -> tuple[int, int, int]:
    try:
        rgb = ImageColor.getrgb(value)
    except ValueError:
        raise _error(f"{field}: {value!r} is not a colour", "InvalidParameter") from None
    return rgb[0], rgb[1], rgb[2]


class ConvertParams(_ImageInput):
    format: OutputFormat = Field(description="Target format")
    quality: int = Field(90, ge=1, le=100, description="JPEG and WebP quality")
    name: str | None = Field(None, max_length=255, description="File name of the output")


@connector.action("convert", input=ConvertParams, output=ImageOutput)
def convert(params: ConvertParams, ctx: Context) -> ImageOutput:
    """Convert an image to another format (PNG, JPEG, WebP, GIF, BMP, TIFF)."""
    image, _ = _source(params, ctx, orient=False)
    transform = _Transform(
        image=params.image, format=params.format, quality=params.quality, name=params.name
    )
    return _output(ctx, image, transform, params.format)


class ThumbnailParams(_Transform):
    size: int = Field(256, ge=1, le=2048, description="Longest side of the thumbnail, in pixels")


@connector.action("thumbnail", input=ThumbnailParams, output=ImageOutput)
def thumbnail(params: ThumbnailParams, ctx: Context) -> ImageOutput:
    """Make a thumbnail no larger than ``size`` on its longest side (never enlarged)."""
    image, source_format = _source(params, ctx)
    image.thumbnail((params.size, params.size), Image.Resampling.LANCZOS)
    return _output(ctx, image, params, source_format)


class CompressParams(_ImageInput):
    format: Literal["jpeg", "webp", "png"] | None = Field(
        None, description="Output format; the input's when it is one of these, else JPEG"
    )
    quality: int = Field(75, ge=1, le=100, description="JPEG and WebP quality (lower: smaller)")
    max_side: int | None = Field(
        None, ge=16, le=MAX_SIDE, description="Also shrink so the longest side is at most this"
    )
    name: str | None = Field(None, max_length=255, description="File name of the output")


class CompressOutput(ImageOutput):
    original_size: int = Field(description="Bytes of the input")
    size: int = Field(description="Bytes of the output")


@connector.action("compress", input=CompressParams, output=CompressOutput)
def compress(params: CompressParams, ctx: Context) -> CompressOutput:
    """Re-encode an image smaller: lower quality, optimised encoding, optionally downscaled."""
    image, source_format = _source(params, ctx)
    fmt = params.format or (source_format if source_format in ("jpeg", "webp", "png") else "jpeg")
    if params.max_side is not None:
        image.thumbnail((params.max_side, params.max_side), Image.Resampling.LANCZOS)
    data = encode(image, fmt, params.quality, optimize=True)
    blob = ctx.put_blob(data, _MEDIA_TYPES[fmt], params.name or _rename(params.image.name, fmt))
    return CompressOutput(
        image=blob,
        width=image.width,
        height=image.height,
        format=fmt,
        original_size=params.image.size,
        size=len(data),
    )


class MetadataOutput(_Params):
    width: int = Field(description="Width in pixels (as stored, before EXIF orientation)")
    height: int = Field(description="Height in pixels")
    mode: str = Field(description="Pillow's pixel mode: RGB, RGBA, L, P, CMYK, ...")
    format: str = Field(description="The file format: png, jpeg, webp, gif, bmp or tiff")
    frames: int = Field(description="Number of frames (more than 1 for animations)")
    has_alpha: bool = Field(description="Whether the image has transparency")
    dpi: list[float] | None = Field(description="Resolution, if the file records one")
    exif: dict[str, Any] = Field(description="EXIF tags by name, as plain values")


@connector.action("metadata", input=_ImageInput, output=MetadataOutput)
def metadata(params: _ImageInput, ctx: Context) -> MetadataOutput:
    """Read an image's size, mode, format, frame count, resolution and EXIF tags."""
    image, source_format = _source(params, ctx, orient=False)
    dpi = image.info.get("dpi")
    return MetadataOutput(
        width=image.width,
        height=image.height,
        mode=image.mode,
        format=source_format,
        frames=getattr(image, "n_frames", 1),
        has_alpha=image.has_transparency_data,
        dpi=[float(d) for d in dpi][:2] if isinstance(dpi, tuple) else None,
        exif=_exif(image),
    )


def _exif(image: Image.Image) -> dict[str, Any]:
    exif = image.getexif()
    tags: dict[str, Any] = {}
    for key, value in exif.items():
        tags[ExifTags.TAGS.get(key, str(key))] = _plain(value)
    for ifd_id, names in (
        (ExifTags.IFD.Exif, ExifTags.TAGS),
        (ExifTags.IFD.GPSInfo, ExifTags.GPSTAGS),
    ):
        try:
            ifd = exif.get_ifd(ifd_id)
        except (KeyError, OSError, ValueError, SyntaxError):
            continue
        tags.pop(ExifTags.TAGS.get(ifd_id, str(ifd_id)), None)  # the offset, not useful
        for key, value in ifd.items():
            tags[names.get(key, str(key))] = _plain(value)
    return tags


def _plain(value: Any, depth: int = 0) -> Any:
    """An EXIF value as JSON: rationals as floats, bytes as text or hex, long values cut."""
    if isinstance(value, bool | int | str):
        return value[:MAX_EXIF_VALUE].rstrip("\0") if isinstance(value, str) else value
    if isinstance(value, float | Fraction) or hasattr(value, "numerator"):
        try:
            number = float(value)
        except (ZeroDivisionError, ValueError, TypeError):
            return None
        return number if number == number and abs(number) != float("inf") else None
    if isinstance(value, bytes):
        try:
            return value.decode("ascii").rstrip("\0")[:MAX_EXIF_VALUE]
        except UnicodeDecodeError:
            return value[: MAX_EXIF_VALUE // 2].hex()
    if isinstance(value, tuple | list) and depth < 3:
        return [_plain(v, depth + 1) for v in value[:100]]
    return str(value)[:MAX_EXIF_VALUE]


Position = Literal["center", "top-left", "top-right", "bottom-left", "bottom-right"]


class WatermarkParams(_Transform):
    text: str = Field(min_length=1, max_length=200, description="The watermark text")
    position: Position = Field("bottom-right", description="Where the text goes")
    font_size: int | None = Field(
        None, ge=6, le=500, description="Text height in pixels; 1/20 of the image height if absent"
    )
    color: str = Field("white", max_length=50, description="Text colour (name or #rrggbb)")
    opacity: float = Field(0.5, ge=0, le=1, description="0 invisible, 1 opaque")
    margin: int = Field(10, ge=0, le=1000, description="Distance from the edges in pixels")


@connector.action("watermark", input=WatermarkParams, output=ImageOutput)
def watermark(params: WatermarkParams, ctx: Context) -> ImageOutput:
    """Draw a semi-transparent text over an image."""
    image, source_format = _source(params, ctx)
    rgb = _colour(params.color, "color")
    base = image.convert("RGBA")
    size = params.font_size or max(6, base.height // 20)
    font = ImageFont.load_default(size=size)  # Pillow's bundled TrueType font
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), params.text, font=font)
    tw, th = right - left, bottom - top
    m = params.margin
    x = {"left": m, "right": base.width - tw - m}.get(params.position.split("-")[-1])
    y = {"top": m, "bottom": base.height - th - m}.get(params.position.split("-")[0])
    if params.position == "center":
        x, y = (base.width - tw) // 2, (base.height - th) // 2
    assert x is not None and y is not None
    draw.text((x - left, y - top), params.text, font=font, fill=(*rgb, round(255 * params.opacity)))
    marked = Image.alpha_composite(base, layer)
    if not image.has_transparency_data:
        marked = marked.convert("RGB")
    return _output(ctx, marked, params, source_format)
