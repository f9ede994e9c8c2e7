"""Val loss and val R-precision against training steps, as a PNG for a model card.

    python scripts/plot_curves.py training/v11/lm/trainer_state.json --rprec 3250:0.81 --rprec 5500:0.90 \
        --out models/default/training_curves.png

Two panels: the language model's val loss (every validation of the trainer
state's history) and R-precision top-3 as a share of the real motions' (one
point per checkpoint that was evaluated). No plotting library is needed:
the lines are drawn into a numpy image and written as PNG with zlib, the
labels with a small built-in 5x7 font.
"""
from __future__ import annotations

import argparse
import json
import struct
import zlib
from pathlib import Path

import numpy as np

FONT = {  # 5x7 glyphs, one string of 7 rows of 5 bits each
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11110 00001 00001 01110 00001 00001 11110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    ".": "00000 00000 00000 00000 00000 01100 01100", "-": "00000 00000 00000 11111 00000 00000 00000",
    "/": "00001 00010 00010 00100 01000 01000 10000", " ": "00000 00000 00000 00000 00000 00000 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010", ")": "01000 00100 00010 00010 00010 00100 01000",
    "A": "01110 10001 10001 11111 10001 10001 10001", "C": "01110 10001 10000 10000 10000 10001 01110",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "I": "01110 00100 00100 00100 00100 00100 01110", "L": "10000 10000 10000 10000 10000 10000 11111",
    "N": "10001 11001 10101 10011 10001 10001 10001", "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "V": "10001 10001 10001 10001 10001 01010 00100", "M": "10001 11011 10101 10101 10001 10001 10001",
    "D": "11110 10001 10001 10001 10001 10001 11110", "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001", "U": "10001 10001 10001 10001 10001 10001 01110",
}


def text(img: np.ndarray, x: int, y: int, s: str, colour, scale: int = 2) -> None:
    for ch in s.upper():
        rows = FONT.get(ch, FONT[" "]).split()
        glyph = np.array([[c == "1" for c in r] for r in rows])
        big = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        h, w = big.shape
        if 0 <= y and y + h <= img.shape[0] and 0 <= x and x + w <= img.shape[1]:
            img[y:y + h, x:x + w][big] = colour
        x += 6 * scale


def line(img: np.ndarray, p0, p1, colour, width: int = 2) -> None:
    n = int(max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))) + 1
    xs = np.linspace(p0[0], p1[0], n).round().astype(int)
    ys = np.linspace(p0[1], p1[1], n).round().astype(int)
    for dx in range(-(width // 2), width - width // 2):
        for dy in range(-(width // 2), width - width // 2):
            ok = (ys + dy >= 0) & (ys + dy < img.shape[0]) & (xs + dx >= 0) & (xs + dx < img.shape[1])
            img[ys[ok] + dy, xs[ok] + dx] = colour


def dot(img: np.ndarray, x: float, y: float, colour, r: int = 4) -> None:
    yy, xx = np.ogrid[:img.shape[0], :img.shape[1]]
    img[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = colour


def panel(img, box, xs, ys, title, x_range, y_range, colour, join: bool) -> None:
    x0, y0, x1, y1 = box
    grey = (120, 120, 120)
    line(img, (x0, y1), (x1, y1), grey, 1)
    line(img, (x0, y0), (x0, y1), grey, 1)
    text(img, x0, y0 - 24, title, (20, 20, 20))

    def px(x, y):
        return (x0 + (x - x_range[0]) / (x_range[1] - x_range[0]) * (x1 - x0),
                y1 - (y - y_range[0]) / (y_range[1] - y_range[0]) * (y1 - y0))
    for k in range(5):
        v = y_range[0] + k * (y_range[1] - y_range[0]) / 4
        _, yy = px(x_range[0], v)
        line(img, (x0 - 5, yy), (x0, yy), grey, 1)
        text(img, x0 - 62, int(yy) - 7, f"{v:.2f}", grey)
    for v in np.linspace(x_range[0], x_range[1], 6):
        xx, _ = px(v, y_range[0])
        line(img, (xx, y1), (xx, y1 + 5), grey, 1)
        text(img, int(xx) - 20, y1 + 10, f"{int(v)}", grey)
    pts = [px(x, y) for x, y in zip(xs, ys)]
    if join:
        for a, b in zip(pts, pts[1:]):
            line(img, a, b, colour)
    for p in pts:
        dot(img, p[0], p[1], colour)


def write_png(img: np.ndarray, path: Path) -> None:
    raw = b"".join(b"\x00" + row.tobytes() for row in img.astype(np.uint8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    head = struct.pack(">IIBBBBB", img.shape[1], img.shape[0], 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw, 9))
                     + chunk(b"IEND", b""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state", help="train-lm's trainer_state.json")
    parser.add_argument("--rprec", action="append", default=[], metavar="STEP:VALUE",
                        help="R-precision top-3 as a share of real at a step (repeatable)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    history = json.loads(Path(args.state).read_text())["history"]
    steps = [h["step"] for h in history if h.get("val_loss") is not None]
    loss = [h["val_loss"] for h in history if h.get("val_loss") is not None]
    rp = sorted((int(a), float(b)) for a, b in (r.split(":") for r in args.rprec))
    img = np.full((520, 900, 3), 255, dtype=np.uint8)
    x_range = (0, max(steps) if steps else 1)
    lo, hi = min(loss), max(loss)
    panel(img, (90, 60, 860, 210), steps, loss, "VAL LOSS", x_range, (np.floor(lo * 10) / 10, np.ceil(hi * 10) / 10),
          (30, 90, 200), True)
    if rp:
        vals = [v for _, v in rp]
        y_range = (min(0.5, np.floor(min(vals) * 10) / 10), 1.0)
        panel(img, (90, 300, 860, 450), [s for s, _ in rp], vals, "R-PRECISION TOP-3 / REAL", x_range, y_range,
              (200, 80, 30), True)
    text(img, 420, 495, "STEP", (20, 20, 20))
    write_png(img, Path(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
