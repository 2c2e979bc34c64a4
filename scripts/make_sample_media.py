#!/usr/bin/env python3
"""Draw the sample feed's images (avatars, banners, post pictures) as PNGs.

Standard library only: a tiny RGB canvas, a 5x7 block font and a PNG writer
built on zlib and struct. Output is deterministic, so re-running the script
rewrites identical bytes.

Usage: python scripts/make_sample_media.py [OUTPUT_DIR]   (default posts/media)
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

Colour = tuple[int, int, int]

CREAM = (242, 234, 211)
INK = (28, 36, 64)
RED = (178, 24, 32)
DARK_RED = (110, 14, 20)
WHITE = (250, 248, 240)
BLACK = (18, 18, 20)
GREY = (96, 104, 116)
STEEL = (70, 86, 110)
BLUE = (34, 70, 150)
NIGHT = (20, 26, 48)
WATER = (34, 48, 78)
GOLD = (214, 170, 60)

# 5x7 block glyphs: one string per row, "#" is ink.
GLYPHS = {
    "A": [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
    "B": ["####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."],
    "C": [".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."],
    "D": ["####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."],
    "E": ["#####", "#....", "#....", "####.", "#....", "#....", "#####"],
    "F": ["#####", "#....", "#....", "####.", "#....", "#....", "#...."],
    "G": [".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".###."],
    "H": ["#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"],
    "I": ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "#####"],
    "K": ["#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"],
    "L": ["#....", "#....", "#....", "#....", "#....", "#....", "#####"],
    "M": ["#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"],
    "N": ["#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", "#...#"],
    "O": [".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."],
    "P": ["####.", "#...#", "#...#", "####.", "#....", "#....", "#...."],
    "R": ["####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"],
    "S": [".####", "#....", "#....", ".###.", "....#", "....#", "####."],
    "T": ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."],
    "U": ["#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."],
    "V": ["#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."],
    "W": ["#...#", "#...#", "#...#", "#.#.#", "#.#.#", "##.##", "#...#"],
    "Y": ["#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."],
    "0": [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
    "1": ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
    "7": ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
    "9": [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
    ".": [".....", ".....", ".....", ".....", ".....", ".##..", ".##.."],
    "-": [".....", ".....", ".....", ".###.", ".....", ".....", "....."],
    " ": [".....", ".....", ".....", ".....", ".....", ".....", "....."],
}


class Canvas:
    """A width x height RGB image held as rows of bytearrays."""

    def __init__(self, width: int, height: int, fill: Colour) -> None:
        self.width = width
        self.height = height
        self.rows = [bytearray(bytes(fill) * width) for _ in range(height)]

    def pixel(self, x: int, y: int, colour: Colour) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.rows[y][3 * x : 3 * x + 3] = bytes(colour)

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        """Fill the half-open box [x0, x1) x [y0, y1), clipped to the canvas."""
        x0, x1 = max(0, x0), min(self.width, x1)
        if x0 >= x1:
            return
        run = bytes(colour) * (x1 - x0)
        for y in range(max(0, y0), min(self.height, y1)):
            self.rows[y][3 * x0 : 3 * x1] = run

    def frame(self, inset: int, thickness: int, colour: Colour) -> None:
        w, h, i, t = self.width, self.height, inset, thickness
        self.rect(i, i, w - i, i + t, colour)
        self.rect(i, h - i - t, w - i, h - i, colour)
        self.rect(i, i, i + t, h - i, colour)
        self.rect(w - i - t, i, w - i, h - i, colour)

    def disc(self, cx: int, cy: int, r: int, colour: Colour) -> None:
        for y in range(cy - r, cy + r + 1):
            for x in range(cx - r, cx + r + 1):
                if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
                    self.pixel(x, y, colour)

    def polygon(self, points: list[tuple[float, float]], colour: Colour) -> None:
        """Even-odd scanline fill, sampling each pixel at its centre."""
        ys = [p[1] for p in points]
        for y in range(max(0, int(min(ys))), min(self.height, int(max(ys)) + 1)):
            sy = y + 0.5
            xs = []
            for (ax, ay), (bx, by) in zip(points, points[1:] + points[:1]):
                if (ay <= sy < by) or (by <= sy < ay):
                    xs.append(ax + (sy - ay) * (bx - ax) / (by - ay))
            xs.sort()
            for left, right in zip(xs[0::2], xs[1::2]):
                self.rect(int(left + 0.5), y, int(right + 0.5), y + 1, colour)

    def star(self, cx: float, cy: float, outer: float, colour: Colour) -> None:
        """A five-pointed star, point up. Inner radius is the classic 0.382."""
        # Unit-circle points at 18-degree steps, precomputed to stay exact.
        unit = [
            (0.0, -1.0), (0.5878, -0.8090), (0.9511, -0.3090), (0.9511, 0.3090),
            (0.5878, 0.8090), (0.0, 1.0), (-0.5878, 0.8090), (-0.9511, 0.3090),
            (-0.9511, -0.3090), (-0.5878, -0.8090),
        ]
        pts = []
        for k in range(10):
            ux, uy = unit[k]
            r = outer if k % 2 == 0 else outer * 0.382
            pts.append((cx + ux * r, cy + uy * r))
        self.polygon(pts, colour)

    def text(self, x: int, y: int, s: str, scale: int, colour: Colour) -> None:
        for i, ch in enumerate(s):
            glyph = GLYPHS[ch]
            gx = x + i * 6 * scale
            for row, line in enumerate(glyph):
                for col, cell in enumerate(line):
                    if cell == "#":
                        self.rect(gx + col * scale, y + row * scale,
                                  gx + (col + 1) * scale, y + (row + 1) * scale, colour)

    def centred_text(self, y: int, s: str, scale: int, colour: Colour) -> None:
        self.text((self.width - text_width(s, scale)) // 2, y, s, scale, colour)


def text_width(s: str, scale: int) -> int:
    return (6 * len(s) - 1) * scale


def png_bytes(canvas: Canvas) -> bytes:
    """Encode as an 8-bit RGB PNG, filter type 0 on every row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(row) for row in canvas.rows)
    header = struct.pack(">IIBBBBB", canvas.width, canvas.height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


# --- the pictures -----------------------------------------------------------

def telegraph_avatar() -> Canvas:
    c = Canvas(128, 128, CREAM)
    c.frame(6, 4, INK)
    c.frame(14, 1, INK)
    c.rect(24, 30, 104, 33, INK)
    c.centred_text(42, "RT", 6, INK)
    c.rect(24, 90, 104, 93, INK)
    c.centred_text(99, "1917", 2, GREY)
    return c


def revolutionary_times_avatar() -> Canvas:
    c = Canvas(128, 128, RED)
    c.star(64, 50, 34, WHITE)
    c.centred_text(92, "RT", 3, WHITE)
    return c


def kerensky_avatar() -> Canvas:
    c = Canvas(128, 128, STEEL)
    # White-blue-red band of the Provisional Government's flag.
    c.rect(0, 0, 128, 12, WHITE)
    c.rect(0, 12, 128, 24, BLUE)
    c.rect(0, 24, 128, 36, RED)
    c.centred_text(48, "K", 8, WHITE)
    return c


def lenin_avatar() -> Canvas:
    c = Canvas(128, 128, DARK_RED)
    c.frame(8, 3, GOLD)
    c.centred_text(34, "L", 8, CREAM)
    c.star(96, 32, 12, GOLD)
    return c


def mrc_avatar() -> Canvas:
    c = Canvas(128, 128, BLACK)
    c.rect(0, 86, 128, 98, RED)
    c.centred_text(44, "MRC", 5, RED)
    return c


def telegraph_banner() -> Canvas:
    c = Canvas(600, 200, CREAM)
    # Telegraph wires and poles along the top.
    for x in (40, 300, 560):
        c.rect(x - 2, 10, x + 2, 60, INK)
        c.rect(x - 14, 18, x + 14, 21, INK)
    c.rect(0, 24, 600, 25, GREY)
    c.rect(0, 32, 600, 33, GREY)
    c.centred_text(74, "RUSSIAN TELEGRAPH", 5, INK)
    c.rect(40, 124, 560, 128, INK)
    c.rect(40, 132, 560, 133, INK)
    c.centred_text(150, "PETROGRAD DAILY - 1917", 3, GREY)
    return c


def revolutionary_times_banner() -> Canvas:
    c = Canvas(600, 200, RED)
    c.star(50, 100, 34, WHITE)
    c.star(550, 100, 34, WHITE)
    c.centred_text(56, "REVOLUTIONARY", 5, WHITE)
    c.centred_text(106, "TIMES", 5, WHITE)
    c.centred_text(164, "ALL POWER TO THE SOVIETS", 2, CREAM)
    return c


def revolutionary_times_masthead() -> Canvas:
    """Front page head of the first issue, for the storm post."""
    c = Canvas(600, 300, CREAM)
    c.frame(10, 3, BLACK)
    c.rect(10, 20, 590, 120, RED)
    c.star(62, 70, 34, WHITE)
    c.star(538, 70, 34, WHITE)
    c.centred_text(40, "REVOLUTIONARY", 4, WHITE)
    c.centred_text(80, "TIMES", 4, WHITE)
    c.centred_text(132, "NO. 1 - PETROGRAD", 2, BLACK)
    c.rect(30, 156, 570, 159, BLACK)
    c.centred_text(176, "ALL POWER", 5, RED)
    c.centred_text(226, "TO THE SOVIETS", 5, RED)
    return c


def aurora_at_night() -> Canvas:
    """The cruiser on the Neva, the Winter Palace beyond, a flash at the bow."""
    c = Canvas(600, 300, NIGHT)
    c.rect(0, 200, 600, 300, WATER)
    # Winter Palace: a long low block with columns and a roofline of statues.
    c.rect(330, 130, 590, 200, GREY)
    for x in range(340, 585, 14):
        c.rect(x, 142, x + 5, 196, STEEL)
        c.rect(x + 1, 122, x + 4, 130, GREY)
    # Aurora: hull, deck house, three funnels, two masts.
    c.polygon([(20, 196), (300, 196), (284, 228), (44, 228)], BLACK)
    c.rect(90, 180, 240, 196, BLACK)
    for x in (120, 156, 192):
        c.rect(x, 136, x + 14, 180, BLACK)
    c.rect(70, 110, 73, 196, BLACK)
    c.rect(260, 116, 263, 196, BLACK)
    # Bow gun flash and its glow on the water.
    c.disc(300, 190, 10, GOLD)
    c.disc(300, 190, 5, WHITE)
    c.rect(288, 234, 312, 237, GOLD)
    c.star(470, 40, 10, GOLD)
    return c


PICTURES = {
    "telegraph.png": telegraph_avatar,
    "telegraph-banner.png": telegraph_banner,
    "revolutionary-times.png": revolutionary_times_avatar,
    "revolutionary-times-banner.png": revolutionary_times_banner,
    "revolutionary-times-masthead.png": revolutionary_times_masthead,
    "kerensky.png": kerensky_avatar,
    "lenin.png": lenin_avatar,
    "mrc.png": mrc_avatar,
    "aurora.png": aurora_at_night,
}


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "posts" / "media"
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in PICTURES.items():
        data = png_bytes(draw())
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
