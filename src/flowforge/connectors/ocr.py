"""Text recognition (OCR) with RapidOCR on onnxruntime, from images and from scanned PDF pages.

The models (PP-OCR detection, orientation and recognition) ship inside the ``rapidocr`` wheel:
nothing is downloaded at run time. The engine loads once per process, on first use.

Scanned PDF pages are read by extracting their embedded images with pypdf, under the same
resource limits as the ``pdf`` connector, rather than rendering them with a second PDF engine
(pdfium): one hardened parser of hostile PDFs in the process is enough, and a scan is an image.
A page with no image (a born-digital page) has its text read by ``pdf.extract_text`` instead.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict, Field
from pypdf import PageObject

from flowforge.connectors.image import MAX_PIXELS, open_image, read_input
from flowforge.connectors.pdf import open_pdf, page_numbers, pdf_limits
from flowforge.connectors.sdk import ActionError, Blob, Connector, Context

if TYPE_CHECKING:
    from rapidocr import RapidOCR

__all__ = ["connector", "recognise"]

connector = Connector(
    "ocr",
    name="OCR",
    description="Recognise printed text in images and scanned PDFs, with boxes and confidence.",
    category="AI",
    icon="scan-text",
)

MAX_PDF_PAGES = 100  # pages recognised in one call (about a second each)
MIN_IMAGE_SIDE = 32  # smaller images on a PDF page are logos or rules, not scans

_engine: RapidOCR | None = None
_load_lock = threading.Lock()
# RapidOCR keeps per-call settings on the engine object, and onnxruntime already uses every core:
# recognise one image at a time.
_run_lock = threading.Lock()


def _error(message: str, type: str) -> ActionError:
    return ActionError(message, retryable=False, type=type)


def engine() -> RapidOCR:
    """The process's OCR engine, loaded on first use (thread-safe)."""
    global _engine
    if _engine is None:
        with _load_lock:
            if _engine is None:
                from rapidocr import RapidOCR

                _engine = RapidOCR(params={"Global.log_level": "error"})
    return _engine


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Line(_Params):
    text: str = Field(description="The recognised text of one line")
    confidence: float = Field(description="0 to 1")
    box: list[list[int]] = Field(
        description="The line's four corners [x, y] in pixels: top-left, top-right, "
        "bottom-right, bottom-left"
    )


def recognise(image: Image.Image, min_confidence: float) -> list[Line]:
    """The lines of text in an image, top to bottom."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    ocr = engine()
    with _run_lock:
        result: Any = ocr(image, text_score=min_confidence)
    if result.boxes is None or result.txts is None:
        return []
    return [
        Line(
            text=text,
            confidence=round(float(score), 4),
            box=[[round(float(x)), round(float(y))] for x, y in box],
        )
        for text, score, box in zip(result.txts, result.scores, result.boxes, strict=True)
        if float(score) >= min_confidence
    ]


class ImageParams(_Params):
    image: Blob = Field(description="The image (PNG, JPEG, WebP, GIF, BMP or TIFF)")
    min_confidence: float = Field(0.5, ge=0, le=1, description="Drop lines below this confidence")


class ImageOutput(_Params):
    text: str = Field(description="All recognised lines, one per line")
    lines: list[Line] = Field(description="Each line with its box and confidence")
    width: int = Field(description="Width of the image in pixels (boxes are relative to it)")
    height: int = Field(description="Height of the image in pixels")
    elapsed_ms: float = Field(description="Recognition time")


@connector.action("image", input=ImageParams, output=ImageOutput)
def image(params: ImageParams, ctx: Context) -> ImageOutput:
    """Recognise the text in an image: lines with boxes and confidence."""
    picture = ImageOps.exif_transpose(open_image(read_input(ctx, params.image, "image"), "image"))
    started = time.perf_counter()
    lines = recognise(picture, params.min_confidence)
    return ImageOutput(
        text="\n".join(line.text for line in lines),
        lines=lines,
        width=picture.width,
        height=picture.height,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )


class PdfParams(_Params):
    pdf: Blob = Field(description="A scanned PDF")
    pages: str | None = Field(
        None, max_length=1000, description='Pages like "1-3,7"; all (up to 100) when absent'
    )
    min_confidence: float = Field(0.5, ge=0, le=1, description="Drop lines below this confidence")


class PageResult(_Params):
    page: int = Field(description="1-based page number")
    text: str = Field(description="The page's recognised text")
    lines: list[Line] = Field(description="Lines, with boxes in the pixels of their scan image")
    images: int = Field(description="How many scan images the page had")


class PdfOutput(_Params):
    pages: list[PageResult] = Field(description="Results per page")
    text: str = Field(description="All pages' text, separated by form feeds")


def _page_images(page: PageObject, number: int) -> list[Image.Image]:
    """The page's embedded images large enough to be scans, upright as the page shows them."""
    field = f"pdf: page {number}"
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    if xobjects is not None:  # refuse huge images from their declared size, before decoding
        for ref in xobjects.get_object().values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                width, height = int(obj.get("/Width", 0)), int(obj.get("/Height", 0))
                if width * height > MAX_PIXELS:
                    raise _error(
                        f"{field}: an image of {width}x{height} pixels is over the limit of "
                        f"{MAX_PIXELS:,}",
                        "TooLarge",
                    )
    pictures = []
    with warnings.catch_warnings():  # pypdf decodes JPEG images with Pillow
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            files = list(page.images)
            for file in files:
                picture = file.image
                if picture is None or min(picture.size) < MIN_IMAGE_SIDE:
                    continue
                picture.load()
                if page.rotation % 360:
                    picture = picture.rotate(-page.rotation, expand=True)
                pictures.append(picture)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise _error(f"{field}: {exc}", "TooLarge") from None
        except OSError as exc:
            raise _error(f"{field}: an image cannot be decoded ({exc})", "InvalidPdf") from None
    return pictures


@connector.action("pdf", input=PdfParams, output=PdfOutput)
def pdf(params: PdfParams, ctx: Context) -> PdfOutput:
    """Recognise the text of a scanned PDF, page by page."""
    results: list[PageResult] = []
    with pdf_limits("pdf"):
        reader = open_pdf(ctx, params.pdf, "pdf")
        count = len(reader.pages)
        numbers = list(
            page_numbers(params.pages, count, "pages") if params.pages else range(1, count + 1)
        )
        if len(numbers) > MAX_PDF_PAGES:
            raise _error(
                f"pages: {len(numbers)} pages; at most {MAX_PDF_PAGES} per call (choose 'pages')",
                "TooLarge",
            )
        for done, number in enumerate(numbers):
            ctx.raise_if_cancelled()
            pictures = _page_images(reader.pages[number - 1], number)
            lines: list[Line] = []
            for picture in pictures:
                lines.extend(recognise(picture, params.min_confidence))
            results.append(
                PageResult(
                    page=number,
                    text="\n".join(line.text for line in lines),
                    lines=lines,
                    images=len(pictures),
                )
            )
            ctx.progress(done + 1, len(numbers), f"page {number}")
    return PdfOutput(pages=results, text="\f".join(r.text for r in results))
