"""OCR latency of a one-page scan: an A4 page at 150 dpi with 20 lines of text, wrapped in a PDF
as a JPEG (as a scanner makes it), recognised by the ``ocr.pdf`` action.

Prints the engine's load time once, then the latency per page (p50 over the runs).
"""

from __future__ import annotations

import io
import statistics
import time
from datetime import UTC, datetime

from _common import arguments, summary
from PIL import Image, ImageDraw, ImageFont

from flowforge.connectors import Context
from flowforge.connectors import ocr as ocr_module
from flowforge.connectors import pdf as pdf_module
from flowforge.store import MemoryStore

LINES = [
    "Invoice 2026-4711",
    "FlowForge Ltd, 1 Workflow Street",
    *(
        f"Item {i:02d}: automation node licence {i * 7} units at {i * 3}.50 EUR"
        for i in range(1, 17)
    ),
    "Total due within 30 days",
    "Thank you for your business",
]


def one_page_scan(ctx: Context) -> object:
    page = Image.new("L", (1240, 1754), 255)  # A4 at 150 dpi
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=28)
    for i, line in enumerate(LINES):
        draw.text((100, 120 + i * 70), line, fill=0, font=font)
    data = io.BytesIO()
    page.save(data, format="JPEG", quality=85)
    image = ctx.put_blob(data.getvalue(), "image/jpeg", "scan.jpg")
    spec = pdf_module.connector.actions["from_images"]
    params = spec.input_model.model_validate({"images": [image.model_dump()], "dpi": 150})
    result = spec.handler(params, ctx)
    return result.pdf  # type: ignore[union-attr]


def main() -> None:
    args = arguments(__doc__ or "")
    ctx = Context(
        execution_id="bench",
        workflow_name="bench",
        node_id="ocr",
        node_type="ocr.pdf",
        attempt=1,
        started_at=datetime.now(UTC),
        input=None,
        inputs={},
        trigger=None,
        blobs=MemoryStore(),
    )
    blob = one_page_scan(ctx)
    spec = ocr_module.connector.actions["pdf"]
    params = spec.input_model.model_validate({"pdf": blob})
    started = time.perf_counter()
    ocr_module.engine()
    load = time.perf_counter() - started
    samples = []
    lines = 0
    for _ in range(max(1, args.repeat)):
        started = time.perf_counter()
        result = spec.handler(params, ctx)
        samples.append(time.perf_counter() - started)
        lines = len(result.pages[0].lines)  # type: ignore[union-attr]
    print(f"OCR of a one-page scan (A4, 150 dpi, {len(LINES)} lines drawn, {lines} recognised)")
    print(f"  engine load (once per process): {load * 1000:.0f} ms")
    print(f"  p50 {statistics.median(samples) * 1000:.0f} ms per page; {summary(samples)}")


if __name__ == "__main__":
    main()
