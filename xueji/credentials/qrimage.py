"""The QR code a holder shows: a compact SVG (one path of dark runs per row) as a ``data:``
URI, so the page needs no inline markup or style (CSP) and stays small for a 1.5 kB
presentation (version ~28, error correction L: the screen is read at arm's length)."""

import base64

import qrcode
import qrcode.constants


def qr_data_uri(text: str) -> str:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=4)
    code.add_data(text.encode("ascii"))
    code.make(fit=True)
    matrix = code.get_matrix()  # the quiet zone included
    size = len(matrix)
    runs: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if row[x]:
                start = x
                while x < size and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("ascii")).decode("ascii")
