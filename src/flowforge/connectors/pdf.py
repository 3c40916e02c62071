"""PDF documents: generate from text or Markdown (fpdf2), merge, split, extract text, read metadata
(pypdf), and turn images into a PDF.

Every PDF is read inside ``pdf_limits``: pypdf's decompression and parsing budgets are lowered so
that a decompression bomb (nested FlateDecode streams, say) fails fast with bounded memory, and
every pypdf failure becomes an ActionError that names the parameter.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PIL import ImageOps
from pydantic import BaseModel, ConfigDict, Field
from pypdf import PdfReader, PdfWriter, apply_configuration
from pypdf.errors import FileNotDecryptedError, LimitReachedError, PyPdfError

from flowforge.connectors.image import open_image, read_input
from flowforge.connectors.sdk import ActionError, Blob, Connector, Context

if TYPE_CHECKING:
    from fpdf import FPDF

__all__ = ["connector", "open_pdf", "page_numbers", "pdf_limits"]

connector = Connector(
    "pdf",
    name="PDF",
    description="Generate, merge, split and read PDF documents; turn images into a PDF.",
    category="Files",
    icon="file-text",
)

MAX_INPUT_BYTES = 128 * 1024 * 1024
MAX_PAGES = 5000  # pages of any PDF read or written
MAX_STREAM_BYTES = 64 * 1024 * 1024  # decompressed bytes of one stream
MAX_TEXT_CHARS = 5_000_000
MAX_SOURCE_CHARS = 1_000_000
PDF = "application/pdf"

_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
_FONT_FILES["BI"] = "DejaVuSans-BoldOblique.ttf"


def _error(message: str, type: str) -> ActionError:
    return ActionError(message, retryable=False, type=type)


@contextmanager
def pdf_limits(field: str) -> Iterator[None]:
    """Run pypdf under tight resource limits; its failures become ActionErrors on ``field``."""
    try:
        with apply_configuration(
            maximum_declared_stream_length=MAX_STREAM_BYTES,
            array_based_stream_maximum_output_length=MAX_STREAM_BYTES,
            zlib_maximum_output_length=MAX_STREAM_BYTES,
            lzw_maximum_output_length=MAX_STREAM_BYTES,
            run_length_maximum_output_length=MAX_STREAM_BYTES,
            brotli_maximum_output_length=MAX_STREAM_BYTES,
            jbig2_maximum_output_length=MAX_STREAM_BYTES,
            image_maximum_buffer_size=MAX_STREAM_BYTES,
            stream_decoding_work_maximum_length=2 * MAX_STREAM_BYTES,
            page_tree_maximum_entries=4 * MAX_PAGES,
            page_tree_maximum_page_entries=40 * MAX_PAGES,
            jbig2dec_binary=None,  # never start an external decoder on hostile input
        ):
            yield
    except ActionError:
        raise
    except LimitReachedError as exc:
        raise _error(
            f"{field}: the PDF is over a safety limit ({exc}); it could be a decompression bomb",
            "TooLarge",
        ) from None
    except FileNotDecryptedError:
        raise _error(f"{field}: the PDF is encrypted; decrypt it first", "Encrypted") from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise _error(
            f"{field}: not a valid PDF ({exc or type(exc).__name__})", "InvalidPdf"
        ) from None
    except (RecursionError, MemoryError):
        raise _error(f"{field}: the PDF is too deeply nested or too large", "TooLarge") from None


def open_pdf(ctx: Context, blob: Blob, field: str) -> PdfReader:
    """A reader of a PDF blob (call inside ``pdf_limits``); encrypted and huge PDFs refused."""
    data = read_input(ctx, blob, field, MAX_INPUT_BYTES)
    if not data.lstrip()[:5] == b"%PDF-":
        raise _error(f"{field}: not a PDF (no %PDF- header)", "InvalidPdf")
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted and not reader.decrypt(""):
        # an empty user password (owner-restricted PDFs) opens; any other is refused
        raise _error(f"{field}: the PDF is encrypted with a password", "Encrypted")
    count = len(reader.pages)
    if count > MAX_PAGES:
        raise _error(f"{field}: {count:,} pages; the limit is {MAX_PAGES:,}", "TooLarge")
    return reader


_RANGE = re.compile(r"^\s*(\d+)?\s*(-)?\s*(\d+)?\s*$")


def page_numbers(spec: str, count: int, field: str) -> list[int]:
    """1-based pages from a spec like ``"1-3, 5, 8-"``; out-of-range pages are an error."""
    pages: list[int] = []
    for part in spec.split(","):
        match = _RANGE.match(part)
        if not match or not (match.group(1) or match.group(3)):
            raise _error(
                f"{field}: {part.strip()!r} is not a page or a range like 2-5", "InvalidParameter"
            )
        first = int(match.group(1) or 1)
        last = int(match.group(3) or count) if match.group(2) else first
        if not 1 <= first <= last <= count:
            raise _error(
                f"{field}: {part.strip()!r} is outside pages 1-{count} (or reversed)",
                "InvalidParameter",
            )
        pages.extend(range(first, last + 1))
    return pages


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PdfOutput(_Params):
    pdf: Blob = Field(description="The resulting PDF")
    pages: int = Field(description="Its number of pages")


def _store(ctx: Context, writer: PdfWriter | FPDF, name: str) -> Blob:
    if isinstance(writer, PdfWriter):
        out = io.BytesIO()
        writer.write(out)
        data = out.getvalue()
    else:
        data = bytes(writer.output())
    return ctx.put_blob(data, PDF, name)


# -- generate


class GenerateParams(_Params):
    text: str = Field(max_length=MAX_SOURCE_CHARS, description="The content")
    format: Literal["text", "markdown"] = Field(
        "markdown",
        description="markdown: headings, paragraphs, lists, **bold**, *italic*, links, code",
    )
    title: str | None = Field(None, max_length=500, description="Document title (metadata)")
    author: str | None = Field(None, max_length=500, description="Document author (metadata)")
    page_size: Literal["A4", "Letter", "Legal", "A3", "A5"] = Field("A4", description="Paper")
    orientation: Literal["portrait", "landscape"] = Field("portrait", description="Orientation")
    font_size: float = Field(11, ge=6, le=36, description="Body text size in points")
    name: str = Field("document.pdf", min_length=1, max_length=255, description="File name")


def _fonts(pdf: FPDF) -> tuple[str, str]:
    """Register DejaVu Sans and Sans Mono (most scripts of Unicode) if they are installed; else
    the PDF core fonts Helvetica and Courier (Latin-1 only). Gives (text font, code font)."""
    for folder in _FONT_DIRS:
        regular = folder / _FONT_FILES[""]
        if regular.is_file():
            for style, file in _FONT_FILES.items():
                path = folder / file
                pdf.add_font("dejavu", style, str(path if path.is_file() else regular))
            mono = folder / "DejaVuSansMono.ttf"
            if not mono.is_file():
                return "dejavu", "dejavu"
            for style in ("", "B", "I", "BI"):
                pdf.add_font("dejavumono", style, str(mono))
            return "dejavu", "dejavumono"
    return "helvetica", "courier"


# in millimetres: fpdf2 warns on some of its named formats (their sizes changed in 2.8.5)
_PAPER_MM = {
    "A3": (297.0, 420.0),
    "A4": (210.0, 297.0),
    "A5": (148.0, 210.0),
    "Letter": (215.9, 279.4),
    "Legal": (215.9, 355.6),
}


@connector.action("generate", input=GenerateParams, output=PdfOutput)
def generate(params: GenerateParams, ctx: Context) -> PdfOutput:
    """Make a PDF from plain text or simple Markdown."""
    from fpdf import FPDF  # imported on use: it takes a quarter of a second
    from fpdf.errors import FPDFException
    from fpdf.html import DEFAULT_TAG_STYLES
    from markdown_it import MarkdownIt

    pdf = FPDF(orientation=params.orientation[0].upper(), format=_PAPER_MM[params.page_size])
    pdf.set_auto_page_break(True, margin=15)
    family, code_family = _fonts(pdf)
    if params.title:
        pdf.set_title(params.title)
    if params.author:
        pdf.set_author(params.author)
    pdf.set_creator("FlowForge")
    pdf.add_page()
    pdf.set_font(family, size=params.font_size)
    try:
        if params.format == "text":
            pdf.multi_cell(0, params.font_size * 0.5, params.text)
        else:
            markdown = MarkdownIt("commonmark", {"html": False}).disable("image")  # no files
            html = markdown.render(params.text)
            pdf.write_html(
                html,
                font_family=family,
                tag_styles={
                    "code": DEFAULT_TAG_STYLES["code"].replace(family=code_family),
                    "pre": DEFAULT_TAG_STYLES["pre"].replace(font_family=code_family),
                },
                warn_on_tags_not_matching=False,
            )
    except (FPDFException, UnicodeEncodeError) as exc:
        raise _error(f"text: cannot be laid out ({exc})", "InvalidParameter") from None
    if pdf.pages_count > MAX_PAGES:
        raise _error(f"text: {pdf.pages_count:,} pages; the limit is {MAX_PAGES:,}", "TooLarge")
    return PdfOutput(pdf=_store(ctx, pdf, params.name), pages=pdf.pages_count)


# -- merge and split


class MergeParams(_Params):
    pdfs: list[Blob] = Field(min_length=1, max_length=200, description="PDFs, in order")
    name: str = Field("merged.pdf", min_length=1, max_length=255, description="File name")


@connector.action("merge", input=MergeParams, output=PdfOutput)
def merge(params: MergeParams, ctx: Context) -> PdfOutput:
    """Join several PDFs into one, in order."""
    total = sum(blob.size for blob in params.pdfs)
    if total > MAX_INPUT_BYTES:
        raise _error(f"pdfs: {total:,} bytes in all; the limit is {MAX_INPUT_BYTES:,}", "TooLarge")
    writer = PdfWriter()
    pages = 0
    for i, blob in enumerate(params.pdfs):
        ctx.raise_if_cancelled()
        field = f"pdfs[{i}]"
        with pdf_limits(field):
            reader = open_pdf(ctx, blob, field)
            pages += len(reader.pages)
            if pages > MAX_PAGES:
                raise _error(f"pdfs: more than {MAX_PAGES:,} pages in all", "TooLarge")
            writer.append(reader)
    with pdf_limits("pdfs"):
        return PdfOutput(pdf=_store(ctx, writer, params.name), pages=pages)


class SplitParams(_Params):
    pdf: Blob = Field(description="The PDF to split")
    ranges: list[str] | None = Field(
        None,
        min_length=1,
        max_length=500,
        description='One output PDF per entry: pages like "1-3", "4", "2,5-7" or "8-" (to the end)',
    )
    every: int | None = Field(
        None, ge=1, le=MAX_PAGES, description="Or: one output PDF per this many pages"
    )


class SplitOutput(_Params):
    pdfs: list[Blob] = Field(description="The parts, in order")
    pages: list[int] = Field(description="The number of pages of each part")


@connector.action("split", input=SplitParams, output=SplitOutput)
def split(params: SplitParams, ctx: Context) -> SplitOutput:
    """Split a PDF into several by page ranges or every N pages."""
    if (params.ranges is None) == (params.every is None):
        raise _error("ranges, every: give exactly one of them", "InvalidParameter")
    stem = (params.pdf.name or "document.pdf").removesuffix(".pdf")
    with pdf_limits("pdf"):
        reader = open_pdf(ctx, params.pdf, "pdf")
        count = len(reader.pages)
        if params.ranges is not None:
            groups = [
                page_numbers(spec, count, f"ranges[{i}]") for i, spec in enumerate(params.ranges)
            ]
        else:
            step = params.every or 1
            groups = [list(range(p, min(p + step, count + 1))) for p in range(1, count + 1, step)]
        if sum(len(g) for g in groups) > MAX_PAGES:
            raise _error(f"ranges: more than {MAX_PAGES:,} pages in all", "TooLarge")
        blobs = []
        for i, group in enumerate(groups):
            ctx.raise_if_cancelled()
            writer = PdfWriter()
            for number in group:
                writer.add_page(reader.pages[number - 1])
            blobs.append(_store(ctx, writer, f"{stem}-{i + 1}.pdf"))
            ctx.progress(i + 1, len(groups))
    return SplitOutput(pdfs=blobs, pages=[len(g) for g in groups])


# -- read


class ExtractTextParams(_Params):
    pdf: Blob = Field(description="The PDF")
    pages: str | None = Field(
        None, max_length=1000, description='Pages like "1-3,7"; all when absent'
    )
    max_chars: int = Field(
        1_000_000, ge=1, le=MAX_TEXT_CHARS, description="Stop after this many characters"
    )


class PageText(_Params):
    page: int = Field(description="1-based page number")
    text: str = Field(description="The page's text")


class ExtractTextOutput(_Params):
    pages: list[PageText] = Field(description="Text per page")
    text: str = Field(description="All pages' text, separated by form feeds")
    page_count: int = Field(description="Pages in the document")
    truncated: bool = Field(description="Whether max_chars cut the text short")


@connector.action("extract_text", input=ExtractTextParams, output=ExtractTextOutput)
def extract_text(params: ExtractTextParams, ctx: Context) -> ExtractTextOutput:
    """Extract the text of a PDF, per page (a scanned page has none: use ocr.pdf)."""
    with pdf_limits("pdf"):
        reader = open_pdf(ctx, params.pdf, "pdf")
        count = len(reader.pages)
        numbers = (
            page_numbers(params.pages, count, "pages") if params.pages else range(1, count + 1)
        )
        out: list[PageText] = []
        left = params.max_chars
        truncated = False
        for number in numbers:
            ctx.raise_if_cancelled()
            page = reader.pages[number - 1]
            # decode the content first: pypdf's extract_text would swallow a LimitReachedError
            contents = page.get_contents()
            if contents is not None:
                contents.get_data()
            text = page.extract_text()
            if len(text) > left:
                text, truncated = text[:left], True
            left -= len(text)
            out.append(PageText(page=number, text=text))
            if truncated:
                break
    return ExtractTextOutput(
        pages=out, text="\f".join(p.text for p in out), page_count=count, truncated=truncated
    )


class InfoParams(_Params):
    pdf: Blob = Field(description="The PDF")


class InfoOutput(_Params):
    pages: int = Field(description="Number of pages")
    pdf_version: str | None = Field(description="e.g. 1.7")
    title: str | None = Field(description="Document title")
    author: str | None = Field(description="Author")
    subject: str | None = Field(description="Subject")
    keywords: str | None = Field(description="Keywords")
    creator: str | None = Field(description="The application that made the original")
    producer: str | None = Field(description="The application that made the PDF")
    created: datetime | None = Field(description="Creation date")
    modified: datetime | None = Field(description="Last modification date")
    page_width: float | None = Field(description="First page's width in points (1/72 inch)")
    page_height: float | None = Field(description="First page's height in points")
    encrypted: bool = Field(description="Whether the file is encrypted (with an empty password)")


@connector.action("info", input=InfoParams, output=InfoOutput)
def info(params: InfoParams, ctx: Context) -> InfoOutput:
    """Read a PDF's page count and metadata (title, author, dates, page size)."""
    with pdf_limits("pdf"):
        reader = open_pdf(ctx, params.pdf, "pdf")
        meta = reader.metadata
        fields: dict[str, Any] = {}
        for key in ("title", "author", "subject", "keywords", "creator", "producer"):
            value = meta.get(f"/{key.capitalize()}") if meta is not None else None
            fields[key] = str(value)[:2000] if value is not None else None
        for key, attr in (("created", "creation_date"), ("modified", "modification_date")):
            try:
                fields[key] = getattr(meta, attr) if meta is not None else None
            except (ValueError, TypeError):  # an unparseable date is left out
                fields[key] = None
        box = reader.pages[0].mediabox if len(reader.pages) else None
        header = reader.pdf_header
        return InfoOutput(
            pages=len(reader.pages),
            pdf_version=header.removeprefix("%PDF-")[:10] if header else None,
            page_width=float(box.width) if box is not None else None,
            page_height=float(box.height) if box is not None else None,
            encrypted=reader.is_encrypted,
            **fields,
        )


# -- images to PDF


class FromImagesParams(_Params):
    images: list[Blob] = Field(
        min_length=1, max_length=500, description="Images, one page each, in order"
    )
    page_size: Literal["fit", "A4", "Letter"] = Field(
        "fit", description="fit: each page the size of its image; else the image fit on the paper"
    )
    dpi: int = Field(150, ge=36, le=1200, description="Resolution of the images for 'fit'")
    name: str = Field("images.pdf", min_length=1, max_length=255, description="File name")


_PAPER = {"A4": (595.28, 841.89), "Letter": (612.0, 792.0)}


@connector.action("from_images", input=FromImagesParams, output=PdfOutput)
def from_images(params: FromImagesParams, ctx: Context) -> PdfOutput:
    """Make a PDF with one image per page."""
    from fpdf import FPDF

    total = sum(blob.size for blob in params.images)
    if total > MAX_INPUT_BYTES:
        raise _error(
            f"images: {total:,} bytes in all; the limit is {MAX_INPUT_BYTES:,}", "TooLarge"
        )
    pdf = FPDF(unit="pt")
    pdf.set_creator("FlowForge")
    pdf.set_auto_page_break(False)
    for i, blob in enumerate(params.images):
        ctx.raise_if_cancelled()
        field = f"images[{i}]"
        image = ImageOps.exif_transpose(open_image(read_input(ctx, blob, field), field))
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        width = image.width * 72 / params.dpi
        height = image.height * 72 / params.dpi
        if params.page_size == "fit":
            pdf.add_page(format=(width, height))
            pdf.image(image, x=0, y=0, w=width, h=height)
        else:
            paper_w, paper_h = _PAPER[params.page_size]
            margin = 36.0
            scale = min((paper_w - 2 * margin) / width, (paper_h - 2 * margin) / height, 1.0)
            w, h = width * scale, height * scale
            pdf.add_page(format=(paper_w, paper_h))
            pdf.image(image, x=(paper_w - w) / 2, y=(paper_h - h) / 2, w=w, h=h)
        ctx.progress(i + 1, len(params.images))
    return PdfOutput(pdf=_store(ctx, pdf, params.name), pages=pdf.pages_count)
