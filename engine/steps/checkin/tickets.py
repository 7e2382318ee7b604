"""The QR code of a citizen's ticket. Its text is exactly the ticket token (see
``engine.tokens``): 35 upper-case letters and digits, no personal data, which QR encodes in
alphanumeric mode as a small version-2 symbol that a phone screen shows and a scanner reads
at a glance. SVG for the page (sharp at any size), PNG for email and the ``qr`` link."""

from __future__ import annotations

import io
import re

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathImage

BORDER = 4  # the quiet zone scanners need


def _code(text: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=BORDER, box_size=10)
    code.add_data(text, optimize=0)
    code.make(fit=True)
    return code


def svg(text: str, *, label: str = "") -> str:
    """An inline SVG (no fixed size: CSS sizes it) with a title for screen readers."""
    raw = _code(text).make_image(image_factory=SvgPathImage).to_string(encoding="unicode")
    raw = re.sub(r'\s(width|height)="[^"]*"', "", raw, count=2)
    title = f"<title>{_escape(label)}</title>" if label else ""
    return raw.replace("<svg ", '<svg role="img" class="qr" ', 1).replace(">", ">" + title, 1)


def png(text: str, *, box_size: int = 8) -> bytes:
    code = _code(text)
    code.box_size = box_size
    buf = io.BytesIO()
    code.make_image(image_factory=PilImage).save(buf, format="PNG")
    return buf.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
