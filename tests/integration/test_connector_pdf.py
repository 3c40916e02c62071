"""The pdf connector: every action called directly, and its refusals of truncated, encrypted and
decompression-bomb PDFs (fast, with bounded memory)."""

from __future__ import annotations

import io
import time
import tracemalloc
import zlib
from typing import Any

import pytest
from connector_support import action_callers
from PIL import Image
from pydantic import ValidationError
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, NameObject, StreamObject

from flowforge.connectors import Context
from flowforge.connectors.pdf import MAX_STREAM_BYTES, connector
from flowforge.connectors.sdk import Blob
from flowforge.store import MemoryStore


@pytest.fixture
def ctx() -> Context:
    return Context.standalone("pdf.test", blobs=MemoryStore())


call, refused = action_callers(connector)


def reader_of(ctx: Context, blob: dict[str, Any]) -> PdfReader:
    return PdfReader(io.BytesIO(ctx.read_blob(Blob.model_validate(blob))))


def make_pdf(ctx: Context, pages: int, name: str = "doc.pdf") -> dict[str, Any]:
    """A PDF whose page i says 'Page i of <name>'."""
    writer = PdfWriter()
    for i in range(pages):
        single = call("generate", {"text": f"Page {i + 1} of {name}", "format": "text"}, ctx)
        writer.append(reader_of(ctx, single["pdf"]))
    data = io.BytesIO()
    writer.write(data)
    return ctx.put_blob(data.getvalue(), "application/pdf", name).model_dump()


MARKDOWN = """# Quarterly report

Revenue grew **strongly** and costs stayed *flat*.

- first point
- second point with `code → ü`

## Next steps

Visit [the site](https://example.org). Ünïcödé: Ελληνικά, Кириллица.
"""


def test_generate_from_markdown(ctx: Context) -> None:
    out = call("generate", {"text": MARKDOWN, "title": "Q3", "author": "Ada"}, ctx)
    assert out["pages"] == 1
    assert out["pdf"]["media_type"] == "application/pdf" and out["pdf"]["name"] == "document.pdf"
    reader = reader_of(ctx, out["pdf"])
    text = reader.pages[0].extract_text()
    for words in ("Quarterly report", "strongly", "code → ü", "Next steps", "Ελληνικά"):
        assert words in text
    assert "**" not in text and "# " not in text  # the markup was rendered, not printed
    fonts = {str(f["/BaseFont"]) for f in reader.pages[0]["/Resources"]["/Font"].values()}
    assert any("Bold" in f for f in fonts), fonts
    assert reader.metadata is not None and reader.metadata.title == "Q3"
    wide = call("generate", {"text": "x", "orientation": "landscape", "page_size": "Letter"}, ctx)
    box = reader_of(ctx, wide["pdf"]).pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((792, 612), abs=0.1)


def test_generate_plain_text_keeps_markup_and_wraps(ctx: Context) -> None:
    out = call(
        "generate",
        {"text": "**not bold**\n" + "word " * 3000, "format": "text", "page_size": "A5"},
        ctx,
    )
    assert out["pages"] > 1
    size = reader_of(ctx, out["pdf"]).pages[0].mediabox
    assert (float(size.width), float(size.height)) == pytest.approx((419.5, 595.3), abs=0.1)
    assert "**not bold**" in reader_of(ctx, out["pdf"]).pages[0].extract_text()
    with pytest.raises(ValidationError):
        connector.actions["generate"].input_model.model_validate({"text": "x" * 1_000_001})


def test_markdown_images_and_html_are_not_followed(ctx: Context) -> None:
    out = call("generate", {"text": "![secret](/etc/passwd)\n\n<img src='/etc/hostname'> ok"}, ctx)
    reader = reader_of(ctx, out["pdf"])
    assert "/XObject" not in reader.pages[0]["/Resources"]
    assert "ok" in reader.pages[0].extract_text()


def test_merge_and_info(ctx: Context) -> None:
    a, b = make_pdf(ctx, 2, "a.pdf"), make_pdf(ctx, 3, "b.pdf")
    out = call("merge", {"pdfs": [a, b], "name": "all.pdf"}, ctx)
    assert out["pages"] == 5
    texts = [p.extract_text() for p in reader_of(ctx, out["pdf"]).pages]
    assert texts[0].startswith("Page 1 of a.pdf") and texts[4].startswith("Page 3 of b.pdf")
    info = call("info", {"pdf": out["pdf"]}, ctx)
    assert info["pages"] == 5 and info["encrypted"] is False
    assert info["page_width"] == pytest.approx(595.28, abs=0.1)  # A4
    assert info["pdf_version"] is not None

    generated = call("generate", {"text": "x", "title": "T", "author": "A"}, ctx)
    meta = call("info", {"pdf": generated["pdf"]}, ctx)
    assert (meta["title"], meta["author"], meta["creator"]) == ("T", "A", "FlowForge")
    assert meta["created"] is not None


def test_split_by_ranges_and_every(ctx: Context) -> None:
    doc = make_pdf(ctx, 5, "five.pdf")
    out = call("split", {"pdf": doc, "ranges": ["1-2", "4", "3,5-"]}, ctx)
    assert out["pages"] == [2, 1, 2]
    assert [b["name"] for b in out["pdfs"]] == ["five-1.pdf", "five-2.pdf", "five-3.pdf"]
    last = [p.extract_text() for p in reader_of(ctx, out["pdfs"][2]).pages]
    assert last[0].startswith("Page 3") and last[1].startswith("Page 5")
    assert call("split", {"pdf": doc, "every": 2}, ctx)["pages"] == [2, 2, 1]
    assert "outside pages 1-5" in refused(
        "split", {"pdf": doc, "ranges": ["4-9"]}, ctx, "InvalidParameter"
    )
    assert "not a page or a range" in refused(
        "split", {"pdf": doc, "ranges": ["a-b"]}, ctx, "InvalidParameter"
    )
    assert "exactly one" in refused("split", {"pdf": doc}, ctx, "InvalidParameter")


def test_extract_text_per_page_with_a_cap(ctx: Context) -> None:
    doc = make_pdf(ctx, 3, "t.pdf")
    out = call("extract_text", {"pdf": doc}, ctx)
    assert out["page_count"] == 3 and out["truncated"] is False
    assert [p["page"] for p in out["pages"]] == [1, 2, 3]
    assert out["pages"][1]["text"].startswith("Page 2 of t.pdf")
    assert out["text"].count("\f") == 2
    some = call("extract_text", {"pdf": doc, "pages": "3,1"}, ctx)
    assert [p["page"] for p in some["pages"]] == [3, 1]
    short = call("extract_text", {"pdf": doc, "max_chars": 20}, ctx)
    assert short["truncated"] is True
    assert sum(len(p["text"]) for p in short["pages"]) == 20
    assert len(short["pages"]) == 2  # stopped in the second page


def test_images_to_pdf(ctx: Context) -> None:
    blobs = []
    for size, colour in (((300, 150), "red"), ((100, 400), "blue")):
        data = io.BytesIO()
        Image.new("RGBA", size, colour).save(data, format="PNG")
        blobs.append(ctx.put_blob(data.getvalue(), "image/png").model_dump())
    out = call("from_images", {"images": blobs, "dpi": 72}, ctx)
    assert out["pages"] == 2
    reader = reader_of(ctx, out["pdf"])
    assert float(reader.pages[0].mediabox.width) == pytest.approx(300)
    assert float(reader.pages[1].mediabox.height) == pytest.approx(400)
    assert len(reader.pages[1].images) == 1
    a4 = call("from_images", {"images": blobs, "page_size": "A4"}, ctx)
    assert float(reader_of(ctx, a4["pdf"]).pages[0].mediabox.width) == pytest.approx(595.28)
    junk = ctx.put_blob(b"nope").model_dump()
    assert refused("from_images", {"images": [blobs[0], junk]}, ctx, "InvalidImage").startswith(
        "images[1]:"
    )


# -- hostile input


def test_truncated_and_non_pdfs_are_clear_errors(ctx: Context) -> None:
    doc = make_pdf(ctx, 2)
    data = ctx.read_blob(Blob.model_validate(doc))
    cut = ctx.put_blob(data[: len(data) // 2], "application/pdf").model_dump()
    for action in ("info", "extract_text"):
        message = refused(action, {"pdf": cut}, ctx, "InvalidPdf")
        assert message.startswith("pdf: not a valid PDF")
    assert "pdfs[1]:" in refused("merge", {"pdfs": [doc, cut]}, ctx, "InvalidPdf")
    text = ctx.put_blob(b"hello").model_dump()
    assert "no %PDF- header" in refused("info", {"pdf": text}, ctx, "InvalidPdf")
    ghost = Blob(blob="c" * 64, size=5).model_dump()
    assert refused("info", {"pdf": ghost}, ctx, "BlobNotFound").startswith("pdf:")


def test_encrypted_pdfs(ctx: Context) -> None:
    source = PdfReader(io.BytesIO(ctx.read_blob(Blob.model_validate(make_pdf(ctx, 1)))))
    locked, restricted = PdfWriter(clone_from=source), PdfWriter(clone_from=source)
    locked.encrypt("secret", algorithm="AES-256")
    restricted.encrypt("", owner_password="owner", algorithm="AES-128")
    blobs = {}
    for name, writer in (("locked", locked), ("restricted", restricted)):
        data = io.BytesIO()
        writer.write(data)
        blobs[name] = ctx.put_blob(data.getvalue(), "application/pdf").model_dump()
    for action in ("info", "extract_text", "split"):
        params: dict[str, Any] = {"pdf": blobs["locked"]}
        if action == "split":
            params["every"] = 1
        assert "encrypted" in refused(action, params, ctx, "Encrypted")
    # an empty user password (owner restrictions only) opens, as in any viewer
    out = call("extract_text", {"pdf": blobs["restricted"]}, ctx)
    assert out["text"].startswith("Page 1")
    assert call("info", {"pdf": blobs["restricted"]}, ctx)["encrypted"] is True


def _bomb(layers_of_zeros: int) -> bytes:
    """A one-page PDF whose content stream is FlateDecode three times over: about 1 kB on disk,
    ``layers_of_zeros`` x 6 MB once decoded."""
    inner = zlib.compressobj(9)
    chunk = b"0 0 m\n" * (1 << 20)
    compressed = b"".join(inner.compress(chunk) for _ in range(layers_of_zeros)) + inner.flush()
    data = zlib.compress(zlib.compress(compressed, 9), 9)
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    stream = StreamObject()
    stream.set_data(b"")
    stream._data = data
    stream[NameObject("/Filter")] = ArrayObject([NameObject("/FlateDecode")] * 3)
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_decompression_bomb_fails_fast_with_bounded_memory(ctx: Context) -> None:
    bomb = _bomb(40)  # 240 MB decoded
    assert len(bomb) < 5000
    blob = ctx.put_blob(bomb, "application/pdf", "bomb.pdf").model_dump()
    assert call("info", {"pdf": blob}, ctx)["pages"] == 1  # the page tree itself is fine
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = refused("extract_text", {"pdf": blob}, ctx, "TooLarge")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 5
    assert "decompression bomb" in message and message.startswith("pdf:")
    assert peak < 4 * MAX_STREAM_BYTES  # far below the 240 MB the stream expands to
