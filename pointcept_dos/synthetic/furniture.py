"""Furniture made of primitives (boxes, cylinders, sheets), in ScanNet categories.

Each ``make_<name>(rng)`` draws the object's sizes (metres) from its class size ranges and
returns a :class:`Piece`: footprint width ``w`` (local x) and depth ``d`` (local y), height
``h`` and a ``build(sb, frame)`` that adds its parts to a ``SceneBuilder``. In the local frame
the footprint is centred at the origin on the floor (z = 0) and the front faces +y, so the
back (y = -d/2) is the side that goes against a wall.
"""

import numpy as np


class Piece:
    def __init__(self, name, w, d, h, build, against_wall=True):
        self.name, self.w, self.d, self.h, self.build = name, w, d, h, build
        self.against_wall = against_wall


def _box(sb, fr, c, half, color, label, yaw=0.0, faces="all"):
    return sb.box(fr.point(c), half, fr.yaw + yaw, color, label, faces=faces)


def _cyl(sb, fr, cxy, z0, z1, r, color, label, top=True):
    p = fr.point((cxy[0], cxy[1], 0.0))
    return sb.cylinder(p[0], p[1], z0, z1, r, color, label, top=top)


def _legs(sb, fr, w, d, z1, t, inset, color, label):
    for sx in (-1, 1):
        for sy in (-1, 1):
            _box(sb, fr, (sx * (w / 2 - inset - t / 2), sy * (d / 2 - inset - t / 2), z1 / 2),
                 (t / 2, t / 2, z1 / 2), color, label)


U = lambda rng, a, b: float(rng.uniform(a, b))  # noqa: E731


def make_table(rng, kind="table"):
    if kind == "coffee table":
        w, d, h = U(rng, 0.8, 1.2), U(rng, 0.45, 0.7), U(rng, 0.38, 0.48)
    elif kind == "end table":
        w = d = U(rng, 0.4, 0.6)
        h = U(rng, 0.5, 0.62)
    elif kind == "dining table":
        w, d, h = U(rng, 1.2, 1.9), U(rng, 0.8, 1.0), U(rng, 0.73, 0.77)
    else:
        w, d, h = U(rng, 0.9, 1.6), U(rng, 0.6, 0.9), U(rng, 0.7, 0.77)
    round_top = kind in ("dining table", "table", "end table") and rng.random() < 0.25
    if round_top:
        w = d = min(max(w, d), 1.2)
    mat = "wood" if rng.random() < 0.75 else rng.choice(["white", "stone", "metal"])
    top_t, leg_t = U(rng, 0.025, 0.05), U(rng, 0.04, 0.07)

    def build(sb, fr):
        lab = sb.label(kind)
        col = sb.color(mat)
        leg_col = col if rng.random() < 0.7 else sb.color("metal")
        if round_top:
            _cyl(sb, fr, (0, 0), h - top_t, h, w / 2, col, lab)
            _cyl(sb, fr, (0, 0), 0.0, h - top_t, 0.05, leg_col, lab)
            _cyl(sb, fr, (0, 0), 0.0, 0.03, w * 0.25, leg_col, lab)
        else:
            _box(sb, fr, (0, 0, h - top_t / 2), (w / 2, d / 2, top_t / 2), col, lab)
            _legs(sb, fr, w, d, h - top_t, leg_t, 0.03, leg_col, lab)

    return Piece(kind, w, d, h, build, against_wall=kind in ("end table", "table"))


def make_desk(rng):
    w, d, h = U(rng, 1.0, 1.7), U(rng, 0.6, 0.8), U(rng, 0.72, 0.77)
    mat = "wood" if rng.random() < 0.6 else rng.choice(["white", "plastic"])
    panels = rng.random() < 0.6
    drawer = rng.random() < 0.5
    top_t = U(rng, 0.025, 0.04)

    def build(sb, fr):
        lab = sb.label("desk")
        col = sb.color(mat)
        _box(sb, fr, (0, 0, h - top_t / 2), (w / 2, d / 2, top_t / 2), col, lab)
        if panels:
            for sx in (-1, 1):
                _box(sb, fr, (sx * (w / 2 - 0.015), 0, (h - top_t) / 2),
                     (0.015, d / 2 - 0.01, (h - top_t) / 2), col, lab)
            _box(sb, fr, (0, -d / 2 + 0.05, (h - top_t) * 0.65),
                 (w / 2 - 0.03, 0.01, (h - top_t) * 0.3), col, lab)
        else:
            _legs(sb, fr, w, d, h - top_t, 0.04, 0.02, sb.color("metal"), lab)
        if drawer:
            dw = 0.4
            _box(sb, fr, (w / 2 - 0.05 - dw / 2, 0.0, (h - top_t) / 2 + 0.03),
                 (dw / 2, d / 2 - 0.04, (h - top_t) / 2 - 0.03), col, lab)
        if rng.random() < 0.5:  # monitor (ScanNet20: ignored)
            mon = sb.label("tv") if rng.random() < 0.2 else None
            if mon is not None:
                _box(sb, fr, (0, -d / 4, h + 0.25), (0.28, 0.02, 0.17), sb.color("screen"), mon)

    return Piece("desk", w, d, h, build)


def make_chair(rng, kind="chair"):
    if kind == "armchair":
        w, d = U(rng, 0.7, 0.9), U(rng, 0.7, 0.85)
        seat_h, back_h = U(rng, 0.38, 0.45), U(rng, 0.75, 0.95)
    else:
        w = U(rng, 0.42, 0.52)
        d = w + U(rng, 0.0, 0.06)
        seat_h, back_h = U(rng, 0.43, 0.49), U(rng, 0.8, 1.0)
    h = back_h

    def build(sb, fr):
        lab = sb.label(kind)
        seat = sb.color("fabric" if kind != "chair" or rng.random() < 0.4 else
                        rng.choice(["wood", "plastic"]))
        frame_col = sb.color("metal" if kind == "office chair" else "wood")
        if kind == "armchair":
            arm_w = U(rng, 0.1, 0.16)
            _box(sb, fr, (0, 0.05, seat_h / 2), (w / 2 - arm_w, d / 2 - 0.05, seat_h / 2), seat, lab)
            _box(sb, fr, (0, -d / 2 + 0.075, back_h / 2), (w / 2, 0.075, back_h / 2), seat, lab)
            for sx in (-1, 1):
                _box(sb, fr, (sx * (w / 2 - arm_w / 2), 0.075, 0.3), (arm_w / 2, d / 2 - 0.075, 0.3),
                     seat, lab)
            return
        st = 0.05
        if kind == "office chair":
            _cyl(sb, fr, (0, 0), 0.0, 0.05, 0.3, frame_col, lab)
            _cyl(sb, fr, (0, 0), 0.05, seat_h - st, 0.03, frame_col, lab)
        else:
            _legs(sb, fr, w, d, seat_h - st, 0.035, 0.01, frame_col, lab)
        _box(sb, fr, (0, 0, seat_h - st / 2), (w / 2, d / 2, st / 2), seat, lab)
        _box(sb, fr, (0, -d / 2 + 0.025, (seat_h + back_h) / 2),
             (w / 2 - 0.01, 0.025, (back_h - seat_h) / 2), seat, lab)

    return Piece(kind, w, d, h, build, against_wall=False)


def make_sofa(rng):
    w, d = U(rng, 1.6, 2.4), U(rng, 0.8, 0.95)
    seat_h, back_h, arm_h = U(rng, 0.38, 0.45), U(rng, 0.75, 0.92), U(rng, 0.55, 0.65)
    arm_w, back_t = U(rng, 0.12, 0.22), U(rng, 0.15, 0.24)

    def build(sb, fr):
        lab = sb.label("couch")
        col = sb.color("fabric")
        _box(sb, fr, (0, back_t / 2, seat_h / 2), (w / 2 - arm_w, d / 2 - back_t / 2, seat_h / 2),
             col, lab)
        _box(sb, fr, (0, -d / 2 + back_t / 2, back_h / 2), (w / 2, back_t / 2, back_h / 2), col, lab)
        for sx in (-1, 1):
            _box(sb, fr, (sx * (w / 2 - arm_w / 2), back_t / 2, arm_h / 2),
                 (arm_w / 2, d / 2 - back_t / 2, arm_h / 2), col, lab)
        for _ in range(int(rng.integers(0, 3))):
            pl = sb.label("pillow")
            x = U(rng, -w / 2 + arm_w + 0.25, w / 2 - arm_w - 0.25)
            _box(sb, fr, (x, -d / 2 + back_t + 0.07, seat_h + 0.2), (0.2, 0.06, 0.18),
                 sb.color("fabric"), pl, yaw=0.0)

    return Piece("couch", w, d, back_h, build)


def make_bed(rng):
    double = rng.random() < 0.6
    w = U(rng, 1.35, 1.85) if double else U(rng, 0.9, 1.05)
    d = U(rng, 1.95, 2.15)
    frame_h, matt_h = U(rng, 0.2, 0.35), U(rng, 0.18, 0.28)
    head_h, head_t = U(rng, 0.85, 1.2), U(rng, 0.05, 0.1)

    def build(sb, fr):
        lab = sb.label("bed")
        wood, bedding = sb.color("wood"), sb.color("bedding")
        _box(sb, fr, (0, head_t / 2, frame_h / 2), (w / 2, (d - head_t) / 2, frame_h / 2), wood, lab)
        _box(sb, fr, (0, head_t / 2, frame_h + matt_h / 2),
             (w / 2 - 0.02, (d - head_t) / 2 - 0.02, matt_h / 2), bedding, lab)
        _box(sb, fr, (0, -d / 2 + head_t / 2, head_h / 2), (w / 2 + 0.02, head_t / 2, head_h / 2),
             wood, lab)
        n_p = 2 if double else 1
        for i in range(n_p):
            x = 0.0 if n_p == 1 else (i - 0.5) * w / 2
            _box(sb, fr, (x, -d / 2 + head_t + 0.25, frame_h + matt_h + 0.06),
                 (min(0.3, w / (2 * n_p) - 0.05), 0.18, 0.06), sb.color("bedding"), sb.label("pillow"))

    return Piece("bed", w, d, head_h, build)


def make_cabinet(rng, kind="cabinet", tall=None):
    if kind == "file cabinet":
        w, d, h = U(rng, 0.4, 0.5), U(rng, 0.55, 0.65), U(rng, 0.7, 1.35)
    elif kind == "nightstand":
        w, d, h = U(rng, 0.4, 0.55), U(rng, 0.35, 0.45), U(rng, 0.45, 0.62)
    elif kind == "wardrobe":
        w, d, h = U(rng, 0.8, 1.6), U(rng, 0.55, 0.65), U(rng, 1.8, 2.2)
    else:
        tall = rng.random() < 0.3 if tall is None else tall
        w, d = U(rng, 0.6, 1.3), U(rng, 0.38, 0.6)
        h = U(rng, 1.6, 2.0) if tall else U(rng, 0.7, 1.15)
    mat = "metal" if kind == "file cabinet" else ("wood" if rng.random() < 0.7 else "white")
    lamp = kind == "nightstand" and rng.random() < 0.6

    def build(sb, fr):
        lab = sb.label(kind)
        col = sb.color(mat)
        _box(sb, fr, (0, -0.01, h / 2), (w / 2, d / 2 - 0.01, h / 2), col, lab)
        # door / drawer fronts, slightly proud
        n_f = 1 if w < 0.7 else 2
        for i in range(n_f):
            x = (i + 0.5) * w / n_f - w / 2
            _box(sb, fr, (x, d / 2 - 0.01, h / 2), (w / (2 * n_f) - 0.01, 0.01, h / 2 - 0.02), col,
                 lab)
        if lamp:
            _table_lamp(sb, fr, (0, 0), h)

    return Piece(kind, w, d, h, build)


def _table_lamp(sb, fr, xy, z):
    lab = sb.label("lamp")
    col = sb.color("ceramic")
    _cyl(sb, fr, xy, z, z + 0.28, 0.05, col, lab)
    _cyl(sb, fr, xy, z + 0.28, z + 0.48, 0.15, sb.color("curtain"), lab)


def make_floor_lamp(rng):
    r = U(rng, 0.16, 0.24)
    h = U(rng, 1.4, 1.8)

    def build(sb, fr):
        lab = sb.label("lamp")
        _cyl(sb, fr, (0, 0), 0.0, 0.03, 0.15, sb.color("metal"), lab)
        _cyl(sb, fr, (0, 0), 0.03, h - 0.28, 0.015, sb.color("metal"), lab)
        _cyl(sb, fr, (0, 0), h - 0.28, h, r, sb.color("curtain"), lab)

    return Piece("lamp", 2 * r, 2 * r, h, build)


def make_bookshelf(rng):
    w, d, h = U(rng, 0.6, 1.3), U(rng, 0.28, 0.4), U(rng, 1.0, 2.1)
    t = U(rng, 0.018, 0.03)
    pitch = U(rng, 0.3, 0.4)
    fill = U(rng, 0.3, 0.9)

    def build(sb, fr):
        lab = sb.label("bookshelf")
        col = sb.color("wood" if rng.random() < 0.7 else "white")
        _box(sb, fr, (0, -d / 2 + t / 2, h / 2), (w / 2, t / 2, h / 2), col, lab)
        for sx in (-1, 1):
            _box(sb, fr, (sx * (w / 2 - t / 2), t / 2, h / 2), (t / 2, d / 2 - t / 2, h / 2), col, lab)
        inner = w / 2 - t
        zs = np.arange(0.0, h - t / 2, pitch)
        zs = np.append(zs, h - t)
        for z in zs:
            _box(sb, fr, (0, t / 2, z + t / 2), (inner, d / 2 - t / 2, t / 2), col, lab)
        books = sb.color("books")
        for z0, z1 in zip(zs[:-1], zs[1:]):
            gap = z1 - z0 - t
            if gap < 0.2 or rng.random() > fill + 0.1:
                continue
            bw = U(rng, 0.2, 2 * inner * fill)
            bx = U(rng, -inner, inner - bw)
            bh = min(gap - 0.03, U(rng, 0.18, 0.28))
            bd = d - t - 0.06
            _box(sb, fr, (bx + bw / 2, t / 2 + 0.0, z0 + t + bh / 2), (bw / 2, bd / 2, bh / 2),
                 (np.clip(books[0] + sb.rng.normal(0, 30, 3), 0, 255), books[1]), lab)

    return Piece("bookshelf", w, d, h, build)


def make_tv_stand(rng):
    w, d, h = U(rng, 1.1, 1.8), U(rng, 0.38, 0.5), U(rng, 0.4, 0.6)
    tw = min(w - 0.1, U(rng, 0.9, 1.45))
    th = tw * 0.58

    def build(sb, fr):
        lab = sb.label("tv stand")
        _box(sb, fr, (0, 0, h / 2), (w / 2, d / 2, h / 2), sb.color("wood"), lab)
        tv = sb.label("tv")
        _box(sb, fr, (0, -0.05, h + 0.03), (0.15, 0.08, 0.03), sb.color("screen"), tv)
        _box(sb, fr, (0, -0.05, h + 0.06 + th / 2), (tw / 2, 0.03, th / 2), sb.color("screen"), tv)

    return Piece("tv stand", w, d, h + th, build)


def make_small(rng, kind):
    """Trash can, box, ottoman, bench: simple single-primitive furniture."""
    if kind == "trash can":
        r, h = U(rng, 0.12, 0.2), U(rng, 0.3, 0.6)
        w = d = 2 * r
    elif kind == "box":
        w, d, h = U(rng, 0.25, 0.6), U(rng, 0.25, 0.5), U(rng, 0.2, 0.5)
    elif kind == "ottoman":
        w = d = U(rng, 0.4, 0.65)
        h = U(rng, 0.35, 0.45)
    else:  # bench
        w, d, h = U(rng, 0.9, 1.5), U(rng, 0.3, 0.4), U(rng, 0.42, 0.48)
    stack = kind == "box" and rng.random() < 0.3

    def build(sb, fr):
        lab = sb.label(kind)
        if kind == "trash can":
            _cyl(sb, fr, (0, 0), 0.0, h, w / 2, sb.color(rng.choice(["plastic", "metal"])), lab)
        elif kind == "bench":
            col = sb.color("wood")
            _box(sb, fr, (0, 0, h - 0.025), (w / 2, d / 2, 0.025), col, lab)
            for sx in (-1, 1):
                _box(sb, fr, (sx * (w / 2 - 0.05), 0, (h - 0.05) / 2), (0.03, d / 2 - 0.02,
                                                                         (h - 0.05) / 2), col, lab)
        else:
            mat = "cardboard" if kind == "box" else "fabric"
            _box(sb, fr, (0, 0, h / 2), (w / 2, d / 2, h / 2), sb.color(mat), lab)
            if stack:
                lab2 = sb.label("box")
                _box(sb, fr, (0.02, 0.01, h + h * 0.4), (w * 0.4, d * 0.4, h * 0.4),
                     sb.color("cardboard"), lab2, yaw=0.2)

    return Piece(kind, w, d, h, build, against_wall=kind in ("box", "bench"))


def make_refrigerator(rng):
    w, d, h = U(rng, 0.6, 0.9), U(rng, 0.65, 0.75), U(rng, 1.6, 1.9)

    def build(sb, fr):
        lab = sb.label("refrigerator")
        col = sb.color(rng.choice(["white", "metal"], p=[0.5, 0.5]))
        _box(sb, fr, (0, 0, h / 2), (w / 2, d / 2, h / 2), col, lab)
        hcol = sb.color("metal")
        _box(sb, fr, (w / 2 - 0.08, d / 2 + 0.03, h * 0.7), (0.015, 0.03, 0.2), hcol, lab)
        _box(sb, fr, (w / 2 - 0.08, d / 2 + 0.03, h * 0.3), (0.015, 0.03, 0.15), hcol, lab)

    return Piece("refrigerator", w, d, h, build)


def make_toilet(rng):
    tw, td, th = U(rng, 0.38, 0.5), U(rng, 0.17, 0.22), U(rng, 0.3, 0.4)
    r = U(rng, 0.17, 0.21)
    d = td + 2 * r + 0.08

    def build(sb, fr):
        lab = sb.label("toilet")
        col = sb.color("ceramic")
        _box(sb, fr, (0, -d / 2 + td / 2, 0.42 + th / 2), (tw / 2, td / 2, th / 2), col, lab)
        _box(sb, fr, (0, -d / 2 + td / 2 + 0.02, 0.21), (0.12, td / 2, 0.21), col, lab)
        cy = -d / 2 + td + r
        _cyl(sb, fr, (0, cy), 0.0, 0.37, r * 0.75, col, lab)
        _cyl(sb, fr, (0, cy), 0.37, 0.42, r, col, lab)

    return Piece("toilet", max(tw, 2 * r), d, 0.42 + th, build)


def container(sb, fr, c, w, d, h, t, col, lab, yaw=0.0):
    """Open-top hollow container (bathtub, sink basin) of wall thickness ``t``; ``c`` bottom centre."""
    cx, cy, z0 = c
    _box(sb, fr, (cx, cy, z0 + t / 2), (w / 2, d / 2, t / 2), col, lab, yaw)
    for sy in (-1, 1):
        _box(sb, fr, (cx, cy + sy * (d / 2 - t / 2), z0 + t + (h - t) / 2), (w / 2, t / 2, (h - t) / 2),
             col, lab, yaw)
    for sx in (-1, 1):
        _box(sb, fr, (cx + sx * (w / 2 - t / 2), cy, z0 + t + (h - t) / 2),
             (t / 2, d / 2 - t, (h - t) / 2), col, lab, yaw)


def make_bathtub(rng):
    w, d, h = U(rng, 1.5, 1.8), U(rng, 0.7, 0.82), U(rng, 0.5, 0.6)
    t = U(rng, 0.07, 0.1)
    curtain = rng.random() < 0.85
    frac = U(rng, 0.4, 1.0)

    def build(sb, fr):
        lab = sb.label("bathtub")
        container(sb, fr, (0, 0, 0), w, d, h, t, sb.color("ceramic"), lab)
        if curtain:
            cl = sb.label("shower curtain")
            y = d / 2 - t - 0.04
            x0 = -w / 2 + t + 0.01
            width = (w - 2 * t - 0.02) * frac
            o = fr.point((x0, y, 0))
            sb.sheet(o, fr.vec((1, 0, 0)), width, h - 0.15, 2.0, fr.vec((0, 1, 0)), 0.03,
                     U(rng, 0.15, 0.25), sb.color("curtain"), cl)

    return Piece("bathtub", w, d, h, build)


def make_vanity(rng):
    w, d, h = U(rng, 0.6, 1.2), U(rng, 0.45, 0.55), U(rng, 0.78, 0.86)
    pedestal = rng.random() < 0.3
    sw, sd = U(rng, 0.4, 0.55), U(rng, 0.32, 0.42)
    sh = U(rng, 0.12, 0.18)
    if pedestal:
        w, d = sw + 0.02, sd + 0.02

    def build(sb, fr):
        sink = sb.label("sink")
        cer = sb.color("ceramic")
        if pedestal:
            _cyl(sb, fr, (0, 0), 0.0, h - sh, 0.08, cer, sink)
            container(sb, fr, (0, 0, h - sh), sw, sd, sh, 0.025, cer, sink)
            return
        lab = sb.label("bathroom vanity")
        col = sb.color("wood" if rng.random() < 0.6 else "white")
        _box(sb, fr, (0, 0, (h - 0.03) / 2), (w / 2, d / 2, (h - 0.03) / 2), col, lab)
        top = sb.label("bathroom counter")
        _box(sb, fr, (0, 0.01, h - 0.015), (w / 2 + 0.01, d / 2 + 0.01, 0.015), sb.color("stone"), top)
        container(sb, fr, (0, 0.02, h), sw, sd, sh, 0.02, cer, sink)

    return Piece("sink", w, d, h + (0 if pedestal else sh), build)


def make_kitchen_run(rng, length, uppers):
    """Base cabinets + countertop with an inset sink (ScanNet: kitchen cabinet / counter / sink)."""
    d, h, top_t = U(rng, 0.58, 0.65), U(rng, 0.86, 0.92), 0.04
    sink = rng.random() < 0.8 and length > 1.2
    sw, sd, sdepth = U(rng, 0.5, 0.8), U(rng, 0.38, 0.45), U(rng, 0.14, 0.2)
    sx = U(rng, -length / 2 + sw / 2 + 0.1, length / 2 - sw / 2 - 0.1) if sink else 0.0

    def build(sb, fr):
        cab = sb.label("kitchen cabinet")
        cnt = sb.label("kitchen counter")
        col = sb.color("wood" if rng.random() < 0.6 else "white")
        stone = sb.color("stone")
        zb = h - top_t
        # base cabinets (lowered under the sink), with a front panel
        if sink:
            segs = [(-length / 2, sx - sw / 2, zb), (sx - sw / 2, sx + sw / 2, zb - sdepth - 0.02),
                    (sx + sw / 2, length / 2, zb)]
        else:
            segs = [(-length / 2, length / 2, zb)]
        for x0, x1, zt in segs:
            if x1 - x0 < 1e-3:
                continue
            _box(sb, fr, ((x0 + x1) / 2, -0.02, zt / 2), ((x1 - x0) / 2, d / 2 - 0.02, zt / 2), col, cab)
        if sink:
            zt = zb - sdepth - 0.02
            _box(sb, fr, (sx, d / 2 - 0.03, (zt + zb) / 2), (sw / 2, 0.01, (zb - zt) / 2), col, cab)
        # countertop, split around the sink hole
        yc, hy = 0.01, d / 2 + 0.01
        if sink:
            y0, y1 = yc - hy, yc + hy
            hy0, hy1 = -sd / 2, sd / 2
            parts = [(-length / 2, sx - sw / 2, y0, y1), (sx + sw / 2, length / 2, y0, y1),
                     (sx - sw / 2, sx + sw / 2, y0, hy0), (sx - sw / 2, sx + sw / 2, hy1, y1)]
        else:
            parts = [(-length / 2, length / 2, yc - hy, yc + hy)]
        for x0, x1, y0, y1 in parts:
            if x1 - x0 < 1e-3 or y1 - y0 < 1e-3:
                continue
            _box(sb, fr, ((x0 + x1) / 2, (y0 + y1) / 2, h - top_t / 2), ((x1 - x0) / 2, (y1 - y0) / 2,
                                                                        top_t / 2), stone, cnt)
        if sink:
            container(sb, fr, (sx, 0.0, h - sdepth), sw, sd, sdepth, 0.015, sb.color("metal"),
                      sb.label("sink"))
        if uppers:
            ud, uh, uz = 0.34, U(rng, 0.6, 0.75), U(rng, 1.42, 1.5)
            up = sb.label("kitchen cabinet")
            _box(sb, fr, (0, -d / 2 + ud / 2, uz + uh / 2), (length / 2, ud / 2, uh / 2), col, up)

    return Piece("kitchen counter", length, d, h, build)
