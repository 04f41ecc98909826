"""Science diagrams drawn with PIL: food chains, thermometers and rulers (224x224 px).

Each renderer takes the suite's ``random.Random`` (layout, colours and jitter are drawn
from it, in a fixed order) and the diagram's facts, and returns an RGB PIL image.
"""

from __future__ import annotations

from typing import Any

from benchmarks.builtin.sources import font

SIZE = 224
BOX_COLORS = ((200, 230, 200), (255, 240, 200), (220, 225, 250), (250, 215, 215), (235, 235, 235))


def render_chain(rng: Any, chain: list[str]) -> Any:
    """Boxed organisms in a column, arrows from the eaten to the eater (either direction up or down)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIZE, SIZE), tuple(rng.randint(242, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    f = font(rng.randint(13, 15))
    box_h, gap = 28, rng.randint(22, 32) if len(chain) == 3 else rng.randint(18, 26)
    total = len(chain) * box_h + (len(chain) - 1) * gap
    top = rng.randint(8, SIZE - total - 8)
    upward = rng.random() < 0.5  # producer at the bottom, arrows pointing up
    order = list(reversed(chain)) if upward else chain
    fill = rng.choice(BOX_COLORS)
    ink = (30, 30, 30)
    boxes = []
    for k, name in enumerate(order):
        left, _, right, _ = draw.textbbox((0, 0), name, font=f)
        w = right - left + 18
        cx = SIZE // 2 + rng.randint(-30, 30)
        cx = min(max(cx, w // 2 + 6), SIZE - w // 2 - 6)
        y0 = top + k * (box_h + gap)
        box = (cx - w // 2, y0, cx + w // 2, y0 + box_h)
        draw.rounded_rectangle(box, radius=6, fill=fill, outline=ink, width=2)
        draw.text((cx, y0 + box_h / 2), name, font=f, fill=ink, anchor="mm")
        boxes.append(box)
    arrow = rng.choice(((200, 40, 40), (40, 40, 40), (30, 90, 180)))
    for k in range(len(boxes) - 1):
        upper, lower = boxes[k], boxes[k + 1]
        x_up, x_low = (upper[0] + upper[2]) / 2, (lower[0] + lower[2]) / 2
        start, end = (
            ((x_low, lower[1]), (x_up, upper[3])) if upward else ((x_up, upper[3]), (x_low, lower[1]))
        )
        draw.line((*start, *end), fill=arrow, width=3)
        dx, dy = end[0] - start[0], end[1] - start[1]
        norm = (dx * dx + dy * dy) ** 0.5 or 1.0
        ux, uy = dx / norm, dy / norm
        tip = (end[0] - ux, end[1] - uy)
        base = (end[0] - 10 * ux, end[1] - 10 * uy)
        draw.polygon(
            [tip, (base[0] - 6 * uy, base[1] + 6 * ux), (base[0] + 6 * uy, base[1] - 6 * ux)], fill=arrow
        )
    return image


def render_thermometer(rng: Any, facts: dict[str, Any]) -> Any:
    """A vertical thermometer, ticks every degree, labels every 10, liquid up to ``facts["value"]``."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIZE, SIZE), tuple(rng.randint(242, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    low, high, value = facts["min"], facts["max"], facts["value"]
    tx = rng.randint(70, 130)
    y_top, y_bottom = 30 + rng.randint(-4, 4), 175 + rng.randint(-4, 4)

    def y_of(v: float) -> float:
        return y_bottom - (v - low) * (y_bottom - y_top) / (high - low)

    ink = (40, 40, 40)
    liquid = rng.choice(((220, 30, 30), (200, 20, 60), (230, 60, 20)))
    draw.rounded_rectangle(
        (tx - 7, y_top - 12, tx + 7, y_bottom + 14), radius=7, fill=(255, 255, 255), outline=ink, width=2
    )
    draw.ellipse((tx - 14, y_bottom + 4, tx + 14, y_bottom + 32), fill=liquid, outline=ink, width=2)
    draw.rectangle((tx - 3, y_of(value), tx + 3, y_bottom + 10), fill=liquid)
    label_font = font(12)
    for v in range(low, high + 1):
        y = y_of(v)
        length = 14 if v % 10 == 0 else 9 if v % 5 == 0 else 5
        draw.line((tx + 9, y, tx + 9 + length, y), fill=ink, width=1)
        if v % 10 == 0:
            draw.text((tx + 27, y), str(v), font=label_font, fill=ink, anchor="lm")
    draw.text((tx + 27, y_top - 20), "°C", font=label_font, fill=ink, anchor="lm")
    return image


def render_ruler(rng: Any, facts: dict[str, Any]) -> Any:
    """A pencil from ``facts["start"]`` to ``facts["end"]`` cm lying above a cm ruler."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIZE, SIZE), tuple(rng.randint(242, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    ink = (40, 40, 40)
    x0 = rng.randint(12, 20)
    step = (SIZE - 2 * x0) / facts["max"]
    ry = rng.randint(110, 140)
    draw.rectangle(
        (x0 - 8, ry, SIZE - x0 + 8, ry + 44),
        fill=rng.choice(((250, 235, 170), (235, 220, 190))),
        outline=ink,
    )
    label_font = font(11 if facts["max"] > 12 else 12)
    for half in range(2 * facts["max"] + 1):
        x = x0 + half * step / 2
        draw.line((x, ry, x, ry + (14 if half % 2 == 0 else 8)), fill=ink, width=1)
        if half % 2 == 0:
            draw.text((x, ry + 17), str(half // 2), font=label_font, fill=ink, anchor="mt")
    draw.text((SIZE - x0, ry + 32), "cm", font=label_font, fill=ink, anchor="rt")
    xs, xe = x0 + facts["start"] * step, x0 + facts["end"] * step
    py = ry - rng.randint(16, 30)
    body = rng.choice(((240, 190, 30), (60, 130, 220), (220, 70, 70), (70, 170, 90)))
    tip = min(14.0, (xe - xs) / 3)
    draw.rectangle((xs, py - 6, xe - tip, py + 6), fill=body, outline=ink)
    draw.rectangle((xs, py - 6, xs + 6, py + 6), fill=(240, 150, 160), outline=ink)
    draw.polygon([(xe - tip, py - 6), (xe, py), (xe - tip, py + 6)], fill=(235, 205, 160), outline=ink)
    for x in (xs, xe):
        for y in range(py + 8, ry, 4):
            draw.point((x, y), fill=(120, 120, 120))
    return image
