"""The ocr connector: text drawn with Pillow is recognised from an image and from a scanned PDF
(with the models shipped in the wheel, offline), and bad input is refused clearly."""

from __future__ import annotations

import io
import threading
import zlib
from typing import Any

import pytest
from connector_support import action_callers
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, NumberObject, StreamObject

from flowforge.connectors import Context
from flowforge.connectors import ocr as ocr_module
from flowforge.connectors import pdf as pdf_connector
from flowforge.connectors.ocr import connector
from flowforge.connectors.sdk import Blob
from flowforge.store import MemoryStore


@pytest.fixture
def ctx() -> Context:
    return Context.standalone("ocr.test", blobs=MemoryStore())


call, refused = action_callers(connector)
make_pdf, _ = action_callers(pdf_connector.connector)


def scan(lines: list[str], size: tuple[int, int] = (1000, 300)) -> Image.Image:
    """A white page with the lines in black, in Pillow's bundled TrueType font at 56 px."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=56)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * 100), line, fill="black", font=font)
    return image


def stored(ctx: Context, image: Image.Image, fmt: str = "PNG") -> dict[str, Any]:
    data = io.BytesIO()
    image.save(data, format=fmt)
    return ctx.put_blob(data.getvalue(), f"image/{fmt.lower()}", f"scan.{fmt.lower()}").model_dump()


def words(text: str) -> str:
    return "".join(text.split()).lower()


def test_the_engine_loads_once_even_from_many_threads() -> None:
    engines: list[object] = []
    threads = [
        threading.Thread(target=lambda: engines.append(ocr_module.engine())) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(engines) == 4 and all(e is engines[0] for e in engines)


def test_text_boxes_and_confidence_from_an_image(ctx: Context) -> None:
    image = scan(["Invoice 4711", "FlowForge reads this"])
    out = call("image", {"image": stored(ctx, image)}, ctx)
    assert (out["width"], out["height"]) == (1000, 300)
    assert words(out["text"]) == words("Invoice 4711\nFlowForge reads this"), out["text"]
    assert len(out["lines"]) == 2
    first, second = out["lines"]
    assert words(first["text"]) == "invoice4711"
    assert first["confidence"] > 0.9
    xs = [x for x, _ in first["box"]]
    ys = [y for _, y in first["box"]]
    assert len(first["box"]) == 4
    assert 0 <= min(xs) < 80 and 300 < max(xs) < 600  # around where it was drawn
    assert 0 <= min(ys) < 60 < max(ys) < 140
    assert min(y for _, y in second["box"]) > max(ys) - 10  # the second line is below
    assert out["elapsed_ms"] > 0


def test_a_blank_image_has_no_text_and_junk_is_refused(ctx: Context) -> None:
    blank = call("image", {"image": stored(ctx, Image.new("L", (200, 100), 255))}, ctx)
    assert blank["text"] == "" and blank["lines"] == []
    junk = ctx.put_blob(b"\x89PNG\r\n\x1a\nbroken").model_dump()
    assert refused("image", {"image": junk}, ctx, "InvalidImage").startswith("image:")


def test_text_of_a_scanned_pdf_page_by_page(ctx: Context) -> None:
    images = [
        stored(ctx, scan(["Scanned page one"]), "JPEG"),
        stored(ctx, Image.new("RGB", (400, 300), "white"), "JPEG"),
    ]
    doc = make_pdf("from_images", {"images": images}, ctx)["pdf"]
    # add a third page with no image at all
    reader = PdfReader(io.BytesIO(ctx.read_blob(Blob.model_validate(doc))))
    writer = PdfWriter()
    writer.add_page(reader.pages[0])
    writer.add_page(reader.pages[1])
    writer.add_blank_page(200, 200)
    data = io.BytesIO()
    writer.write(data)
    plain = ctx.put_blob(data.getvalue(), "application/pdf", "scan.pdf").model_dump()

    out = call("pdf", {"pdf": plain}, ctx)
    assert [p["page"] for p in out["pages"]] == [1, 2, 3]
    assert words(out["pages"][0]["text"]) == "scannedpageone", out["pages"][0]["text"]
    assert out["pages"][0]["images"] == 1 and out["pages"][0]["lines"][0]["confidence"] > 0.8
    assert out["pages"][1]["text"] == "" and out["pages"][1]["images"] == 1
    assert out["pages"][2] == {"page": 3, "text": "", "lines": [], "images": 0}
    assert out["text"].count("\f") == 2
    only = call("pdf", {"pdf": plain, "pages": "1"}, ctx)
    assert [p["page"] for p in only["pages"]] == [1]


def test_a_rotated_scan_is_read_upright(ctx: Context) -> None:
    sideways = scan(["Rotated scan"], (700, 200)).rotate(90, expand=True)  # stored on its side
    doc = make_pdf("from_images", {"images": [stored(ctx, sideways)]}, ctx)
    reader = PdfReader(io.BytesIO(ctx.read_blob(Blob.model_validate(doc["pdf"]))))
    writer = PdfWriter()
    writer.add_page(reader.pages[0]).rotate(90)  # a viewer shows it turned back upright
    data = io.BytesIO()
    writer.write(data)
    blob = ctx.put_blob(data.getvalue(), "application/pdf").model_dump()
    out = call("pdf", {"pdf": blob}, ctx)
    assert words(out["text"]) == "rotatedscan", out["text"]


def test_hostile_pdfs_are_refused(ctx: Context) -> None:
    # an image that declares 20000 x 20000 pixels: refused from its header, never decoded
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    image = StreamObject()
    image._data = zlib.compress(b"\0" * 10_000)
    image.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(20_000),
            NameObject("/Height"): NumberObject(20_000),
            NameObject("/ColorSpace"): NameObject("/DeviceGray"),
            NameObject("/BitsPerComponent"): NumberObject(8),
            NameObject("/Filter"): NameObject("/FlateDecode"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): writer._add_object(image)})}
    )
    data = io.BytesIO()
    writer.write(data)
    bomb = ctx.put_blob(data.getvalue(), "application/pdf").model_dump()
    assert "20000x20000" in refused("pdf", {"pdf": bomb}, ctx, "TooLarge")

    cut = ctx.put_blob(data.getvalue()[:300], "application/pdf").model_dump()
    assert refused("pdf", {"pdf": cut}, ctx, "InvalidPdf").startswith("pdf: not a valid PDF")
    assert "outside pages 1-1" in refused(
        "pdf", {"pdf": bomb, "pages": "2"}, ctx, "InvalidParameter"
    )
