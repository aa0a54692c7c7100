"""Rooms (rectangular or L-shaped), doors, windows, curtains, pictures and furniture layout.

Rooms span [0, W] x [0, L] (metres) with the floor at z = 0 and the ceiling at z = H; an
L-shaped room has one corner rectangle (the notch) cut out. Furniture is placed by rejection
sampling of axis-aligned footprints (against walls or free-standing, in functional groups:
dining sets, desk + chair, bed + nightstands, sofa + coffee table, kitchen runs, bathrooms).
"""

import numpy as np

from . import furniture as F
from .primitives import Frame

ROOM_TYPES = ("bedroom", "living room", "office", "kitchen", "bathroom")
ROOM_TYPE_WEIGHTS = (0.24, 0.2, 0.22, 0.16, 0.18)


class Room:
    def __init__(self, rng, room_type):
        small = room_type == "bathroom"
        lo, hi = (3.0, 4.5) if small else (3.5, 8.0)
        self.W, self.L = float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))
        self.H = float(rng.uniform(2.4, 3.0))
        W, L = self.W, self.L
        self.notch = None
        if not small and min(W, L) > 4.0 and rng.random() < 0.35:
            nw, nl = rng.uniform(0.3, 0.45) * W, rng.uniform(0.3, 0.45) * L
            verts = [(0, 0), (W, 0), (W, L - nl), (W - nw, L - nl), (W - nw, L), (0, L)]
            notch = [W - nw, L - nl, W, L]
            fx, fy = rng.random() < 0.5, rng.random() < 0.5
            if fx:
                verts = [(W - x, y) for x, y in verts]
                notch = [W - notch[2], notch[1], W - notch[0], notch[3]]
            if fy:
                verts = [(x, L - y) for x, y in verts]
                notch = [notch[0], L - notch[3], notch[2], L - notch[1]]
            if fx != fy:
                verts = verts[::-1]
            self.notch = np.array(notch, dtype=np.float64)
        else:
            verts = [(0, 0), (W, 0), (W, L), (0, L)]
        v = np.array(verts, dtype=np.float64)
        self.walls = []
        for i in range(len(v)):
            p0, p1 = v[i], v[(i + 1) % len(v)]
            t = (p1 - p0) / np.linalg.norm(p1 - p0)
            self.walls.append(dict(p0=p0, p1=p1, t=t, n=np.array([-t[1], t[0]]),
                                   length=float(np.linalg.norm(p1 - p0)), items=[]))

    @property
    def floor_area(self):
        a = self.W * self.L
        if self.notch is not None:
            a -= (self.notch[2] - self.notch[0]) * (self.notch[3] - self.notch[1])
        return a

    def inside(self, xy, margin=0.0):
        """Bool mask [N]: xy strictly inside the room shrunk by ``margin`` metres."""
        x, y = xy[:, 0], xy[:, 1]
        m = (x > margin) & (x < self.W - margin) & (y > margin) & (y < self.L - margin)
        if self.notch is not None:
            n = self.notch
            m &= ~((x > n[0] - margin) & (x < n[2] + margin) & (y > n[1] - margin)
                   & (y < n[3] + margin))
        return m

    def rect_ok(self, r, margin=-1e-6):
        x0, y0, x1, y1 = r
        if x0 < margin or y0 < margin or x1 > self.W - margin or y1 > self.L - margin:
            return False
        if self.notch is not None and _overlap(r, self.notch, margin):
            return False
        return True


def _overlap(a, b, gap=0.0):
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _aabb(cx, cy, w, d, yaw):
    c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
    ex, ey = c * w / 2 + s * d / 2, s * w / 2 + c * d / 2
    return (cx - ex, cy - ey, cx + ex, cy + ey)


class Layout:
    """Rejection-sampling placement of footprints in a room."""

    def __init__(self, room, rng):
        self.room, self.rng = room, rng
        self.rects = []  # occupied / reserved footprints (x0, y0, x1, y1)

    def free(self, r, gap=0.05):
        return self.room.rect_ok(r) and not any(_overlap(r, q, gap) for q in self.rects)

    def wall_frame(self, wi, s, w, d, off=0.0):
        wall = self.room.walls[wi]
        c = wall["p0"] + wall["t"] * (s + w / 2) + wall["n"] * (d / 2 + off)
        yaw = float(np.arctan2(wall["n"][1], wall["n"][0]) - np.pi / 2)
        return Frame(c[0], c[1], yaw)

    def wall_clear(self, wi, s0, s1, z0, z1):
        return all(not (s0 < b - 0.02 and a < s1 + 0.02 and z0 < zt and zb < z1)
                   for a, b, zb, zt in self.room.walls[wi]["items"])

    def on_wall(self, w, d, h, tries=40, extra_front=0.0, extra_side=0.0, corner=False, wall=None):
        """Place a (w x d) footprint with its back on a wall; reserve ``extra_front`` in front.

        Returns (frame, wall index, s) or None.
        """
        rng = self.rng
        for _ in range(tries):
            wi = int(rng.integers(len(self.room.walls))) if wall is None else wall
            L = self.room.walls[wi]["length"]
            span = w + 2 * extra_side
            if L < span + 0.04:
                continue
            if corner:
                s = extra_side + (0.0 if rng.random() < 0.5 else L - span)
            else:
                s = extra_side + float(rng.uniform(0.02, L - span - 0.02))
            fr = self.wall_frame(wi, s - extra_side, span, d + extra_front)
            r = _aabb(fr.t[0], fr.t[1], span, d + extra_front, fr.yaw)
            if not self.free(r):
                continue
            if not self.wall_clear(wi, s - extra_side, s + w + extra_side, 0.0, h):
                continue
            self.rects.append(r)
            self.room.walls[wi]["items"].append((s - extra_side, s + w + extra_side, 0.0, h))
            return self.wall_frame(wi, s, w, d), wi, s
        return None

    def in_room(self, w, d, tries=40, margin=0.5, yaw=None):
        rng, room = self.rng, self.room
        for _ in range(tries):
            x = float(rng.uniform(margin, room.W - margin))
            y = float(rng.uniform(margin, room.L - margin))
            a = float(rng.integers(4)) * np.pi / 2 if yaw is None else yaw
            r = _aabb(x, y, w, d, a)
            if self.free(r, gap=0.15):
                self.rects.append(r)
                return Frame(x, y, a)
        return None


def child(fr, x, y, yaw=0.0):
    p = fr.point((x, y, 0.0))
    return Frame(p[0], p[1], fr.yaw + yaw)


# ------------------------------------------------------------------------------ structure
def add_structure(sb, room, rng, ceiling_scale):
    """Floor, ceiling and walls (with door / window holes cut). Call after openings exist."""
    wall_col = sb.color("wall_paint")
    notch = room.notch

    def floor_keep(x, y):
        if notch is None:
            return np.ones(len(x), bool)
        return ~((x > notch[0]) & (x < notch[2]) & (y > notch[1]) & (y < notch[3]))

    sb.quad((0, 0, 0), (room.W, 0, 0), (0, room.L, 0), sb.color("floor"), sb.label("floor"),
            normal=(0, 0, 1), clip=False, keep=floor_keep)
    if ceiling_scale > 0:
        sb.quad((0, 0, room.H), (room.W, 0, 0), (0, room.L, 0), sb.color("ceiling"),
                sb.label("ceiling"), normal=(0, 0, -1), clip=False, scale=ceiling_scale,
                keep=floor_keep)
    wall_lab = sb.label("wall")
    for wall in room.walls:
        holes = wall.get("holes", [])

        def keep(s, z, holes=holes):
            m = np.ones(len(s), bool)
            for a, b, z0, z1 in holes:
                m &= ~((s > a) & (s < b) & (z > z0) & (z < z1))
            return m

        sb.quad((*wall["p0"], 0.0), (*(wall["p1"] - wall["p0"]), 0.0), (0, 0, room.H), wall_col,
                wall_lab, normal=(*wall["n"], 0.0), clip=False, keep=keep)


def _reveal(sb, wall, s0, s1, z0, z1, depth, color, lab, sides="lrbt"):
    t = np.array([*wall["t"], 0.0])
    n = np.array([*wall["n"], 0.0])
    base = np.array([*wall["p0"], 0.0])
    ez = np.array([0.0, 0.0, 1.0])
    for side in sides:
        if side in "lr":
            s = s0 if side == "l" else s1
            o = base + t * s + ez * z0
            sb.quad(o, -n * depth, ez * (z1 - z0), color, lab, normal=t if side == "l" else -t,
                    clip=False)
        else:
            z = z0 if side == "b" else z1
            o = base + t * s0 + ez * z
            sb.quad(o, -n * depth, t * (s1 - s0), color, lab, normal=ez if side == "b" else -ez,
                    clip=False)


def add_openings(sb, room, layout, rng, room_type):
    """Doors and windows (holes in walls, panels, reveals, sills) and curtains."""
    walls = room.walls
    depth = float(rng.uniform(0.1, 0.18))  # wall thickness seen in the reveals
    n_doors = 1 + int(rng.random() < (0.25 if room_type != "bathroom" else 0.0))
    order = rng.permutation(len(walls))
    placed = 0
    for wi in order:
        if placed >= n_doors:
            break
        wall = walls[wi]
        dw, dh = float(rng.uniform(0.78, 1.0)), float(rng.uniform(1.98, 2.12))
        if wall["length"] < dw + 0.5:
            continue
        s0 = float(rng.uniform(0.15, wall["length"] - dw - 0.15))
        if not layout.wall_clear(wi, s0 - 0.1, s0 + dw + 0.1, 0, room.H):
            continue
        # clearance zone in front of the door
        fr = layout.wall_frame(wi, s0, dw, dw + 0.1)
        rect = _aabb(fr.t[0], fr.t[1], dw, dw + 0.1, fr.yaw)
        if not room.rect_ok(rect) or any(_overlap(rect, q) for q in layout.rects):
            continue
        layout.rects.append(rect)
        wall["items"].append((s0 - 0.1, s0 + dw + 0.1, 0.0, room.H))
        wall.setdefault("holes", []).append((s0, s0 + dw, -1.0, dh))
        lab = sb.label("door")
        col = sb.color("wood" if rng.random() < 0.7 else "white")
        t3, n3 = np.array([*wall["t"], 0.0]), np.array([*wall["n"], 0.0])
        hinge = np.array([*wall["p0"], 0.0]) + t3 * s0
        yaw_w = float(np.arctan2(wall["t"][1], wall["t"][0]))
        if rng.random() < 0.55:  # closed, set back in the wall
            sb.quad(hinge - n3 * depth * 0.5, t3 * dw, (0, 0, dh), col, lab, normal=n3, clip=False)
            _reveal(sb, wall, s0, s0 + dw, 0.0, dh, depth * 0.5, col, lab, sides="lrt")
        else:  # open into the room
            ang = float(rng.uniform(np.pi * 0.35, np.pi * 0.55))
            dirv = np.cos(ang) * t3 + np.sin(ang) * n3
            c = hinge + dirv * dw / 2 + np.array([0, 0, dh / 2])
            sb.box(c, (dw / 2, 0.02, dh / 2), yaw_w + ang, col, lab)
            _reveal(sb, wall, s0, s0 + dw, 0.0, dh, depth, col, lab, sides="lrt")
        # casing (trim) on the wall
        cw = 0.05
        for s in (s0 - cw / 2, s0 + dw + cw / 2):
            c = hinge + t3 * (s - s0) + n3 * 0.008 + np.array([0, 0, (dh + cw) / 2])
            sb.box(c, (cw / 2, 0.008, (dh + cw) / 2), yaw_w, col, lab)
        c = hinge + t3 * (dw / 2) + n3 * 0.008 + np.array([0, 0, dh + cw / 2])
        sb.box(c, (dw / 2, 0.008, cw / 2), yaw_w, col, lab)
        placed += 1

    n_win = int(rng.integers(0, 2)) if room_type == "bathroom" else int(rng.integers(1, 4))
    curtain_p = {"bedroom": 0.6, "living room": 0.6, "office": 0.3, "kitchen": 0.3,
                 "bathroom": 0.2}[room_type]
    for _ in range(n_win * 4):
        if n_win <= 0:
            break
        wi = int(rng.integers(len(walls)))
        wall = walls[wi]
        ww = float(rng.uniform(0.7, 2.2))
        z0 = float(rng.uniform(0.7, 1.0))
        z1 = min(room.H - 0.2, z0 + float(rng.uniform(1.0, 1.5)))
        if wall["length"] < ww + 0.6:
            continue
        s0 = float(rng.uniform(0.3, wall["length"] - ww - 0.3))
        if not layout.wall_clear(wi, s0 - 0.2, s0 + ww + 0.2, 0.0, room.H):
            continue
        n_win -= 1
        wall.setdefault("holes", []).append((s0, s0 + ww, z0, z1))
        lab = sb.label("window")
        t3, n3 = np.array([*wall["t"], 0.0]), np.array([*wall["n"], 0.0])
        o = np.array([*wall["p0"], 0.0]) + t3 * s0
        glass = sb.color("glass")
        sb.quad(o - n3 * depth + np.array([0, 0, z0]), t3 * ww, (0, 0, z1 - z0), glass, lab,
                normal=n3, clip=False, scale=0.5)
        frame_col = sb.color("white" if rng.random() < 0.7 else "wood")
        _reveal(sb, wall, s0, s0 + ww, z0, z1, depth, frame_col, lab)
        yaw_w = float(np.arctan2(wall["t"][1], wall["t"][0]))
        if rng.random() < 0.6:  # mullion
            c = o + t3 * (ww / 2) - n3 * (depth - 0.03) + np.array([0, 0, (z0 + z1) / 2])
            sb.box(c, (0.025, 0.03, (z1 - z0) / 2), yaw_w, frame_col, lab)
        sill = (s0 - 0.05, s0 + ww + 0.05)
        c = o + t3 * (ww / 2) + n3 * 0.03 + np.array([0, 0, z0 - 0.015])
        sb.box(c, (ww / 2 + 0.05, 0.03, 0.015), yaw_w, frame_col, lab)
        wall["items"].append((sill[0], sill[1], z0 - 0.05, room.H))
        if rng.random() < curtain_p:
            _curtain(sb, room, layout, rng, wi, s0, s0 + ww, z0, z1)


def _curtain(sb, room, layout, rng, wi, s0, s1, z0, z1):
    wall = room.walls[wi]
    ext = float(rng.uniform(0.15, 0.4))
    a, b = max(0.02, s0 - ext), min(wall["length"] - 0.02, s1 + ext)
    long = rng.random() < 0.55
    zlo = 0.03 if long else max(0.05, z0 - 0.2)
    ztop = min(room.H - 0.03, z1 + float(rng.uniform(0.05, 0.25)))
    off = float(rng.uniform(0.1, 0.16))
    if long:
        fr = layout.wall_frame(wi, a, b - a, off + 0.1)
        r = _aabb(fr.t[0], fr.t[1], b - a, off + 0.1, fr.yaw)
        if any(_overlap(r, q) for q in layout.rects):
            return
        layout.rects.append(r)
        wall["items"].append((a, b, 0.0, room.H))
    lab = sb.label("curtain")
    col = sb.color("curtain")
    t3, n3 = np.array([*wall["t"], 0.0]), np.array([*wall["n"], 0.0])
    base = np.array([*wall["p0"], 0.0]) + n3 * off
    amp, wl = float(rng.uniform(0.025, 0.05)), float(rng.uniform(0.15, 0.3))
    if rng.random() < 0.25:  # drawn closed
        panels = [(a, b)]
    else:
        f1, f2 = rng.uniform(0.15, 0.45, 2)
        panels = [(a, a + f1 * (b - a)), (b - f2 * (b - a), b)]
    for p0, p1 in panels:
        sb.sheet(base + t3 * p0, t3, p1 - p0, zlo, ztop, n3, amp, wl, col, lab)


def add_pictures(sb, room, layout, rng, n):
    for _ in range(n * 6):
        if n <= 0:
            break
        wi = int(rng.integers(len(room.walls)))
        wall = room.walls[wi]
        pw, ph = float(rng.uniform(0.3, 1.2)), float(rng.uniform(0.3, 0.9))
        zc = float(rng.uniform(1.3, 1.75))
        z0, z1 = zc - ph / 2, zc + ph / 2
        if wall["length"] < pw + 0.3 or z1 > room.H - 0.15:
            continue
        s0 = float(rng.uniform(0.15, wall["length"] - pw - 0.15))
        if not layout.wall_clear(wi, s0 - 0.05, s0 + pw + 0.05, z0 - 0.05, z1 + 0.05):
            continue
        wall["items"].append((s0, s0 + pw, z0, z1))
        th = float(rng.uniform(0.015, 0.04))
        fr = layout.wall_frame(wi, s0, pw, th)
        sb.box((fr.t[0], fr.t[1], zc), (pw / 2, th / 2, ph / 2), fr.yaw, sb.color("art"),
               sb.label("picture"))
        n -= 1


# ------------------------------------------------------------------------------ furniture groups
def _place_wall(sb, layout, piece, **kw):
    res = layout.on_wall(piece.w, piece.d, piece.h, **kw)
    if res is None:
        return None
    piece.build(sb, res[0])
    return res


def _place_free(sb, layout, piece, **kw):
    fr = layout.in_room(piece.w, piece.d, **kw)
    if fr is not None:
        piece.build(sb, fr)
    return fr


def dining_set(sb, layout, rng, kind="dining table", n_max=6):
    table = F.make_table(rng, kind)
    chairs = []
    per_side = max(1, int(table.w // 0.6))
    for side in (-1, 1):
        for i in range(per_side):
            if rng.random() < 0.75 and len(chairs) < n_max:
                chairs.append((side, i))
    cd = 0.5
    fr = layout.in_room(table.w, table.d + 2 * (cd - 0.05), margin=0.6)
    if fr is None:
        return
    table.build(sb, fr)
    for side, i in chairs:
        ch = F.make_chair(rng, "chair")
        x = (i + 0.5) * table.w / per_side - table.w / 2 + float(rng.normal(0, 0.03))
        y = side * (table.d / 2 + ch.d / 2 - 0.12 + float(rng.uniform(0, 0.1)))
        yaw = (0.0 if side < 0 else np.pi) + float(rng.normal(0, 0.15))
        ch.build(sb, child(fr, x, y, yaw))


def desk_set(sb, layout, rng, chair_kind="office chair"):
    desk = F.make_desk(rng)
    res = layout.on_wall(desk.w, desk.d, desk.h, extra_front=0.55)
    if res is None:
        return
    fr = res[0]
    desk.build(sb, fr)
    ch = F.make_chair(rng, chair_kind)
    ch.build(sb, child(fr, float(rng.uniform(-0.2, 0.2)), desk.d / 2 + ch.d / 2 - 0.12,
                       np.pi + float(rng.normal(0, 0.3))))


def bed_set(sb, layout, rng):
    bed = F.make_bed(rng)
    ns = [F.make_cabinet(rng, "nightstand") for _ in range(int(rng.integers(0, 3)))]
    side = max([n.w for n in ns], default=0.0)
    res = layout.on_wall(bed.w, bed.d, bed.h, extra_side=side + 0.03 if ns else 0.0)
    if res is None:
        return
    fr = res[0]
    bed.build(sb, fr)
    for k, n in enumerate(ns):
        sx = (-1 if k == 0 else 1) * (bed.w / 2 + 0.03 + n.w / 2)
        n.build(sb, child(fr, sx, -bed.d / 2 + n.d / 2))


def sofa_set(sb, layout, rng):
    sofa = F.make_sofa(rng)
    ct = F.make_table(rng, "coffee table") if rng.random() < 0.75 else None
    extra = (0.4 + ct.d) if ct is not None else 0.0
    res = layout.on_wall(sofa.w, sofa.d, sofa.h, extra_front=extra)
    if res is None:
        res = layout.on_wall(sofa.w, sofa.d, sofa.h)
        ct = None
        if res is None:
            return
    fr = res[0]
    sofa.build(sb, fr)
    if ct is not None:
        ct.build(sb, child(fr, float(rng.normal(0, 0.05)), sofa.d / 2 + 0.4 + ct.d / 2))


def kitchen_run(sb, layout, rng, room):
    for _ in range(20):
        wi = int(rng.integers(len(room.walls)))
        L = room.walls[wi]["length"]
        length = min(L - 0.1, float(rng.uniform(1.8, 4.2)))
        if length < 1.2:
            continue
        run = F.make_kitchen_run(rng, length, uppers=False)
        res = layout.on_wall(run.w, run.d, run.h, tries=6, wall=wi)
        if res is None:
            continue
        fr, wi, s = res
        uppers = rng.random() < 0.65 and layout.wall_clear(wi, s, s + run.w, run.h + 0.05, 2.4)
        run = F.make_kitchen_run(rng, length, uppers=uppers) if uppers else run
        run.build(sb, fr)
        if uppers:
            room.walls[wi]["items"].append((s, s + run.w, 1.3, 2.4))
        return


def furnish(sb, room, layout, rng, room_type):
    """Furniture for a room type; counts and probabilities set the class frequencies."""
    P = lambda p: rng.random() < p  # noqa: E731
    Ni = lambda a, b: int(rng.integers(a, b + 1))  # noqa: E731
    if room_type == "bedroom":
        bed_set(sb, layout, rng)
        if P(0.3):
            bed_set(sb, layout, rng)
        if P(0.6):
            _place_wall(sb, layout, F.make_cabinet(rng, "wardrobe"))
        for _ in range(Ni(0, 2)):
            _place_wall(sb, layout, F.make_cabinet(rng))
        if P(0.5):
            desk_set(sb, layout, rng, "chair")
        if P(0.3):
            _place_wall(sb, layout, F.make_bookshelf(rng))
        n_pic = Ni(0, 3)
    elif room_type == "living room":
        sofa_set(sb, layout, rng)
        if P(0.4):
            sofa_set(sb, layout, rng)
        for _ in range(Ni(0, 3)):
            _place_free(sb, layout, F.make_chair(rng, "armchair"))
        if P(0.7):
            _place_wall(sb, layout, F.make_tv_stand(rng))
        for _ in range(Ni(0, 2)):
            _place_wall(sb, layout, F.make_bookshelf(rng))
        if P(0.5):
            _place_wall(sb, layout, F.make_table(rng, "end table"))
        if P(0.4):
            _place_wall(sb, layout, F.make_cabinet(rng))
        if P(0.3):
            _place_free(sb, layout, F.make_small(rng, "ottoman"))
        if P(0.4):
            dining_set(sb, layout, rng, n_max=4)
        n_pic = Ni(1, 4)
    elif room_type == "office":
        for _ in range(Ni(1, 4)):
            desk_set(sb, layout, rng)
        for _ in range(Ni(1, 3)):
            _place_wall(sb, layout, F.make_bookshelf(rng))
        for _ in range(Ni(0, 3)):
            _place_wall(sb, layout, F.make_cabinet(rng, "file cabinet" if P(0.5) else "cabinet"))
        if P(0.5):
            dining_set(sb, layout, rng, kind="table", n_max=8)
        for _ in range(Ni(0, 4)):
            _place_wall(sb, layout, F.make_small(rng, "box"))
        n_pic = Ni(0, 2)
    elif room_type == "kitchen":
        kitchen_run(sb, layout, rng, room)
        if P(0.35):
            kitchen_run(sb, layout, rng, room)
        _place_wall(sb, layout, F.make_refrigerator(rng))
        if P(0.75):
            dining_set(sb, layout, rng, n_max=4)
        if P(0.3):
            _place_wall(sb, layout, F.make_cabinet(rng, "cabinet", tall=True))
        n_pic = Ni(0, 2)
    else:  # bathroom
        if P(0.75):
            _place_wall(sb, layout, F.make_bathtub(rng), corner=True)
        _place_wall(sb, layout, F.make_toilet(rng))
        _place_wall(sb, layout, F.make_vanity(rng))
        if P(0.3):
            _place_wall(sb, layout, F.make_cabinet(rng, "bathroom vanity"))
        n_pic = Ni(0, 1)
    # things any room may have
    if P(0.45):
        _place_wall(sb, layout, F.make_small(rng, "trash can"))
    if room_type in ("bedroom", "living room", "office") and P(0.35):
        _place_wall(sb, layout, F.make_floor_lamp(rng))
    if room_type != "bathroom" and P(0.2):
        _place_wall(sb, layout, F.make_small(rng, "bench"))
    for _ in range(Ni(0, 2) if room_type != "bathroom" else 0):
        _place_wall(sb, layout, F.make_small(rng, "box"))
    add_pictures(sb, room, layout, rng, n_pic)
