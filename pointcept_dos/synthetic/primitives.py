"""Surface primitives, materials and sensor effects for the synthetic indoor scenes.

Everything is plain numpy. Lengths are metres, the z axis points up, the floor is z = 0.
A :class:`SceneBuilder` collects surface patches (each sampled at a uniform density of
``density`` points per square metre) and solids (oriented boxes and vertical cylinders).
:meth:`SceneBuilder.finish` then applies the sensor model: removal of points inside other
solids (contact faces, floor under furniture), occlusion from a few viewpoints, random
dropout blobs, Gaussian position noise, shading and colour noise.
"""

import numpy as np

from ..data.scannet_taxonomy import CATEGORIES, STUFF

# material -> (modes [(weight, (r, g, b))], per-instance std, per-point std); RGB 0-255
MATERIALS = {
    "wall_paint": ([(5, (226, 223, 215)), (3, (214, 199, 172)), (2, (188, 190, 194)),
                    (1, (184, 204, 208)), (1, (205, 190, 160))], 8, 5),
    "floor": ([(4, (146, 104, 66)), (2, (192, 160, 118)), (2, (118, 116, 112)),
               (2, (200, 192, 172)), (1, (78, 70, 62))], 10, 9),
    "ceiling": ([(1, (234, 233, 230))], 4, 4),
    "wood": ([(3, (196, 164, 120)), (3, (142, 100, 62)), (2, (88, 60, 42))], 14, 8),
    "white": ([(1, (232, 230, 224))], 6, 5),
    "fabric": ([(2, (120, 120, 126)), (1, (62, 80, 128)), (2, (190, 170, 140)), (1, (150, 52, 46)),
                (1, (82, 110, 82)), (1, (110, 80, 60)), (1, (46, 46, 52))], 14, 8),
    "bedding": ([(3, (236, 233, 226)), (1, (170, 190, 215)), (2, (210, 196, 170)),
                 (1, (160, 160, 166)), (1, (214, 170, 175))], 10, 7),
    "metal": ([(2, (176, 178, 182)), (2, (82, 84, 88)), (1, (42, 42, 44))], 10, 6),
    "plastic": ([(2, (36, 36, 40)), (1, (228, 228, 226)), (1, (140, 140, 142))], 8, 6),
    "ceramic": ([(3, (241, 241, 238)), (1, (230, 222, 205))], 5, 5),
    "glass": ([(1, (168, 188, 198)), (1, (110, 128, 138)), (1, (218, 224, 230))], 14, 14),
    "stone": ([(2, (225, 222, 214)), (2, (130, 130, 132)), (1, (52, 52, 54)), (1, (200, 184, 160))],
              8, 10),
    "cardboard": ([(1, (176, 140, 96)), (1, (192, 162, 116))], 10, 8),
    "curtain": ([(2, (230, 228, 220)), (2, (200, 182, 150)), (1, (130, 130, 136)),
                 (1, (70, 90, 140)), (1, (140, 50, 50))], 12, 6),
    "art": ([(1, (200, 60, 50)), (1, (60, 120, 180)), (1, (230, 200, 80)), (1, (70, 140, 80)),
             (1, (30, 30, 40)), (1, (220, 220, 210))], 40, 30),
    "books": ([(1, (160, 40, 40)), (1, (40, 70, 140)), (1, (220, 210, 190)), (1, (40, 110, 60)),
               (1, (30, 30, 30))], 40, 10),
    "screen": ([(1, (22, 22, 26))], 4, 4),
}


def rot_z(yaw):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class Frame:
    """Placement of an object: rotation ``yaw`` (radians, about +z) then translation (x, y)."""

    def __init__(self, x, y, yaw):
        self.t = np.array([x, y, 0.0])
        self.yaw = float(yaw)
        self.R = rot_z(yaw)

    def point(self, p):
        return self.R @ np.asarray(p, dtype=np.float64) + self.t

    def vec(self, v):
        return self.R @ np.asarray(v, dtype=np.float64)


class Label:
    __slots__ = ("seg20", "seg200", "inst", "name")

    def __init__(self, seg20, seg200, inst, name):
        self.seg20, self.seg200, self.inst, self.name = seg20, seg200, inst, name


class SceneBuilder:
    """Accumulates sampled surface points and solids of one scene.

    Parameters: ``rng`` a ``numpy.random.Generator``; ``density`` points per m^2.
    Per patch it stores: points [n,3] float64, normals [n,3], base colour [3] (0-255 float),
    labels, the id of the solid the patch belongs to (-1: none) and ``clip`` (points must lie
    inside the room interior, True for furniture).
    """

    def __init__(self, rng, density):
        self.rng = rng
        self.density = float(density)
        self._pts, self._nrm, self._col, self._lab, self._sid, self._clip = [], [], [], [], [], []
        self.solids = []  # (kind 0 box / 1 cylinder, center[3], half[3], yaw, blocks_view)
        self.num_instances = 0
        self.instance_names = []

    # ---------------------------------------------------------------- labels & colour
    def label(self, category):
        seg20, _, seg200 = CATEGORIES[category]
        if category in STUFF:
            inst = -1
        else:
            inst = self.num_instances
            self.num_instances += 1
            self.instance_names.append(category)
        return Label(seg20, seg200, inst, category)

    def color(self, material):
        modes, inst_std, _ = MATERIALS[material]
        w = np.array([m[0] for m in modes], dtype=np.float64)
        k = self.rng.choice(len(modes), p=w / w.sum())
        c = np.array(modes[k][1], dtype=np.float64) + self.rng.normal(0.0, inst_std, 3)
        return (np.clip(c, 0, 255), MATERIALS[material][2])

    # ---------------------------------------------------------------- sampling
    def _count(self, area, scale):
        return int(self.rng.poisson(max(area, 0.0) * self.density * scale))

    def _add(self, pts, nrm, color, label, sid, clip):
        if len(pts) == 0:
            return
        self._pts.append(pts)
        self._nrm.append(np.broadcast_to(nrm, pts.shape) if np.ndim(nrm) == 1 else nrm)
        self._col.append((len(pts), color))
        self._lab.append((len(pts), label))
        self._sid.append((len(pts), sid))
        self._clip.append((len(pts), clip))

    def quad(self, origin, a, b, color, label, normal=None, sid=-1, clip=True, scale=1.0,
             keep=None):
        """Parallelogram origin + u a + v b (u, v in [0, 1]); ``keep(u, v) -> bool mask``."""
        origin, a, b = (np.asarray(x, dtype=np.float64) for x in (origin, a, b))
        cr = np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                       a[0] * b[1] - a[1] * b[0]])
        area = float(np.sqrt(cr @ cr))
        n = self._count(area, scale)
        uv = self.rng.random((n, 2))
        if keep is not None:
            uv = uv[keep(uv[:, 0] * np.linalg.norm(a), uv[:, 1] * np.linalg.norm(b))]
        pts = origin + uv[:, :1] * a + uv[:, 1:] * b
        nrm = cr / max(area, 1e-12) if normal is None else np.asarray(normal, dtype=np.float64)
        self._add(pts, nrm, color, label, sid, clip)

    def add_solid(self, kind, center, half, yaw, blocks_view=True):
        self.solids.append((kind, np.asarray(center, dtype=np.float64),
                            np.asarray(half, dtype=np.float64), float(yaw), blocks_view))
        return len(self.solids) - 1

    def box(self, center, half, yaw, color, label, clip=True, faces="all", scale=1.0):
        """Oriented box (rotation ``yaw`` about z) sampled on its faces; registered as a solid.

        ``faces``: "all" or a string of face codes among "xXyYzZ" (lower-case: -axis face).
        """
        center, half = np.asarray(center, dtype=np.float64), np.asarray(half, dtype=np.float64)
        sid = self.add_solid(0, center, half, yaw)
        R = rot_z(yaw)
        codes = "xXyYzZ" if faces == "all" else faces
        for code in codes:
            ax = "xyz".index(code.lower())
            sign = 1.0 if code.isupper() else -1.0
            u_ax, v_ax = [i for i in range(3) if i != ax]
            e = np.eye(3)
            n_loc = e[ax] * sign
            origin = center + R @ (n_loc * half[ax] - e[u_ax] * half[u_ax] - e[v_ax] * half[v_ax])
            a = R @ (e[u_ax] * 2 * half[u_ax])
            b = R @ (e[v_ax] * 2 * half[v_ax])
            self.quad(origin, a, b, color, label, normal=R @ n_loc, sid=sid, clip=clip,
                      scale=scale)
        return sid

    def cylinder(self, cx, cy, z0, z1, r, color, label, clip=True, top=True, bottom=False):
        """Vertical solid cylinder, radius ``r``, from z0 to z1; side and (optional) caps."""
        sid = self.add_solid(1, (cx, cy, 0.5 * (z0 + z1)), (r, r, 0.5 * (z1 - z0)), 0.0)
        n = self._count(2 * np.pi * r * (z1 - z0), 1.0)
        th = self.rng.random(n) * 2 * np.pi
        dirs = np.stack([np.cos(th), np.sin(th), np.zeros(n)], 1)
        pts = np.array([cx, cy, 0.0]) + dirs * r
        pts[:, 2] = z0 + self.rng.random(n) * (z1 - z0)
        self._add(pts, dirs, color, label, sid, clip)
        for z, on, nz in ((z1, top, 1.0), (z0, bottom, -1.0)):
            if not on:
                continue
            n = self._count(np.pi * r * r, 1.0)
            rr = r * np.sqrt(self.rng.random(n))
            th = self.rng.random(n) * 2 * np.pi
            pts = np.stack([cx + rr * np.cos(th), cy + rr * np.sin(th), np.full(n, z)], 1)
            self._add(pts, np.array([0.0, 0.0, nz]), color, label, sid, clip)
        return sid

    def sheet(self, origin, tangent, width, z0, z1, normal, amp, wavelength, color, label,
              clip=True):
        """Hanging wavy sheet (curtain): origin + s t + z e_z + amp sin(2 pi s / wl + phi) n."""
        origin, t, nv = (np.asarray(x, dtype=np.float64) for x in (origin, tangent, normal))
        k = 2 * np.pi / wavelength
        stretch = np.sqrt(1 + 0.5 * (amp * k) ** 2)  # mean arc-length factor
        n = self._count(width * (z1 - z0) * stretch, 1.0)
        s = self.rng.random(n) * width
        z = z0 + self.rng.random(n) * (z1 - z0)
        phi = self.rng.random() * 2 * np.pi
        off = amp * np.sin(k * s + phi)
        dof = amp * k * np.cos(k * s + phi)
        pts = origin + s[:, None] * t + off[:, None] * nv
        pts[:, 2] = z
        nrm = nv[None, :] - dof[:, None] * t[None, :]
        nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
        self._add(pts, nrm, color, label, -1, clip)

    # ---------------------------------------------------------------- assembly
    def arrays(self):
        """Concatenate all patches: dict of per-point arrays (float64 coord / normal / base)."""
        counts = np.array([n for n, _ in self._lab], dtype=np.int64)

        def rep(values, dtype):
            return np.repeat(np.asarray(values, dtype=dtype).reshape(len(counts), -1), counts,
                             axis=0).squeeze(-1) if len(counts) else np.zeros(0, dtype)

        if not len(counts):
            z3 = np.zeros((0, 3))
            return dict(coord=z3, normal=z3, base=z3, pstd=np.zeros(0),
                        segment20=np.zeros(0, np.int32), segment200=np.zeros(0, np.int32),
                        instance=np.zeros(0, np.int32), sid=np.zeros(0, np.int32),
                        clip=np.zeros(0, bool))
        base = np.repeat(np.stack([c[0] for _, c in self._col]), counts, axis=0)
        return dict(coord=np.concatenate(self._pts), normal=np.concatenate(self._nrm), base=base,
                    pstd=rep([c[1] for _, c in self._col], np.float64),
                    segment20=rep([lab.seg20 for _, lab in self._lab], np.int32),
                    segment200=rep([lab.seg200 for _, lab in self._lab], np.int32),
                    instance=rep([lab.inst for _, lab in self._lab], np.int32),
                    sid=rep([v for _, v in self._sid], np.int32),
                    clip=rep([v for _, v in self._clip], bool))

    def solid_arrays(self):
        """Solids as arrays: kind [S] (0 box, 1 cylinder), center [S,3], half [S,3], yaw [S]."""
        if not self.solids:
            return dict(kind=np.zeros(0, np.int32), center=np.zeros((0, 3)),
                        half=np.zeros((0, 3)), yaw=np.zeros(0), blocks_view=np.zeros(0, bool))
        return dict(kind=np.array([s[0] for s in self.solids], np.int32),
                    center=np.stack([s[1] for s in self.solids]),
                    half=np.stack([s[2] for s in self.solids]),
                    yaw=np.array([s[3] for s in self.solids]),
                    blocks_view=np.array([s[4] for s in self.solids], bool))


def _local(p, center, yaw):
    d = p - center
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], 1)


def inside_solids(coord, sid, solids, eps, own_exempt=True):
    """Bool mask [N]: point within ``eps`` of the interior of a solid it does not belong to."""
    out = np.zeros(len(coord), dtype=bool)
    for j in range(len(solids["kind"])):
        c, h, yaw = solids["center"][j], solids["half"][j] + eps, solids["yaw"][j]
        r = np.max(h[:2]) * (1.4143 if solids["kind"][j] == 0 else 1.0)
        cand = np.nonzero((np.abs(coord[:, 0] - c[0]) < r) & (np.abs(coord[:, 1] - c[1]) < r)
                          & (np.abs(coord[:, 2] - c[2]) < h[2]))[0]
        if own_exempt:
            cand = cand[sid[cand] != j]
        if len(cand) == 0:
            continue
        q = _local(coord[cand], c, yaw)
        if solids["kind"][j] == 0:
            ins = np.all(np.abs(q) < h, axis=1)
        else:
            ins = (q[:, 0] ** 2 + q[:, 1] ** 2 < h[0] ** 2) & (np.abs(q[:, 2]) < h[2])
        out[cand[ins]] = True
    return out


def visible_from(coord, normal, views, solids, shrink=0.01, min_size=0.04):
    """Bool mask [N]: visible from at least one viewpoint (front-facing and no solid between).

    Cylinders occlude as their inscribed square prism; thin solids (legs, poles, strips:
    second-largest half extent below ``min_size``) and solids with ``blocks_view`` False are
    not used as occluders.
    """
    N = len(coord)
    vis = np.zeros(N, dtype=bool)
    occ = []
    for j in range(len(solids["kind"])):
        h = solids["half"][j].copy()
        if solids["kind"][j] == 1:
            h[:2] *= 0.707
        h = h - shrink
        if not solids["blocks_view"][j] or np.any(h <= 0) or np.sort(h)[1] < min_size:
            continue
        occ.append((solids["center"][j], h, solids["yaw"][j], float(np.linalg.norm(h))))
    for v in views:
        idx = np.nonzero(~vis)[0]
        d_all = v[None, :] - coord[idx]
        facing = np.einsum("ij,ij->i", d_all, normal[idx]) > 0
        idx, d_all = idx[facing], d_all[facing]
        P = coord[idx]
        lo = np.minimum(P, v)
        hi = np.maximum(P, v)
        lo0, lo1, lo2 = (np.ascontiguousarray(lo[:, k]) for k in range(3))
        hi0, hi1, hi2 = (np.ascontiguousarray(hi[:, k]) for k in range(3))
        blocked = np.zeros(len(idx), dtype=bool)
        for c, h, yaw, rad in occ:
            # cull: segment bounding box against the solid's bounding sphere
            m = (lo0 <= c[0] + rad) & (hi0 >= c[0] - rad) & (lo1 <= c[1] + rad)
            m &= (hi1 >= c[1] - rad) & (lo2 <= c[2] + rad) & (hi2 >= c[2] - rad)
            m &= ~blocked
            cand = np.nonzero(m)[0]
            if len(cand) == 0:
                continue
            o = _local(P[cand], c, yaw)
            d = _local(d_all[cand] + c, c, yaw)  # rotate the direction only
            d[np.abs(d) < 1e-12] = 1e-12
            inv = 1.0 / d
            t1 = (-h - o) * inv
            t2 = (h - o) * inv
            tn = np.minimum(t1, t2).max(axis=1)
            tf = np.maximum(t1, t2).min(axis=1)
            hit = np.maximum(tn, 0.0) < np.minimum(tf, 1.0)
            blocked[cand[hit]] = True
        vis[idx[~blocked]] = True
    return vis


def shade_colors(base, pstd, normal, rng, light):
    """Lambert-like shading of per-point base colours plus per-point Gaussian colour noise."""
    lam = np.clip(normal @ light, 0.0, 1.0)
    s = 0.78 + 0.22 * lam
    col = base * s[:, None] + rng.normal(0.0, 1.0, base.shape) * pstd[:, None]
    return np.clip(np.rint(col), 0, 255).astype(np.uint8)
