"""What a real scan adds to the synthetic rooms' clean surfaces (numpy).

A reconstructed scan is not a uniform sampling of perfect planes under one light: its density
falls with the distance to the sensor, its surfaces carry centimetre bumps, and its colours vary
with uneven light and a white balance of their own. Without these, a network learns shortcuts
(a perfect plane is a wall, a colour is a class) that do not carry over to real scans. Each
effect draws from its own generator, so a scene with every effect off is the scene without them.
"""

import numpy as np


def distance_density(coord, views, reference, floor, rng):
    """[N] bool: points kept with probability min(1, (reference / d)^2), at least `floor`, d
    the distance (m) to the nearest viewpoint: the sensor samples near surfaces densely."""
    if reference <= 0 or len(views) == 0:
        return np.ones(len(coord), bool)
    d = np.sqrt(((coord[:, None, :] - views[None]) ** 2).sum(-1)).min(1)
    keep = np.clip((reference / np.maximum(d, 1e-3)) ** 2, floor, 1.0)
    return rng.random(len(coord)) < keep


def surface_bumps(coord, normal, amplitude, rng, waves=4):
    """[N, 3] coordinates moved along their normals by a smooth field of `amplitude` (m) rms:
    a sum of plane waves of 0.3-1.5 m wavelength, as the waviness of a fused reconstruction."""
    if amplitude <= 0:
        return coord
    direction = rng.normal(size=(waves, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    k = direction * (2 * np.pi / rng.uniform(0.3, 1.5, waves))[:, None]
    field = np.sin(coord @ k.T + rng.uniform(0, 2 * np.pi, waves)).sum(1) * np.sqrt(2.0 / waves)
    return coord + amplitude * field[:, None] * normal


def uneven_light(color, coord, variation, cast, rng, blobs=3):
    """[N, 3] uint8 colours under uneven light: a brightness field of relative amplitude
    `variation` (lamps and shadows: a gradient and a few Gaussian blobs of 1-2.5 m) and a
    per-channel gain of std `cast` (the scan's white balance)."""
    if variation <= 0 and cast <= 0:
        return color
    field = coord[:, :2] @ rng.normal(0, 0.15, 2)
    for _ in range(blobs):
        centre = coord[rng.integers(len(coord))] if len(coord) else np.zeros(3)
        width = rng.uniform(1.0, 2.5)
        field = field + rng.choice([-1.0, 1.0]) * np.exp(-((coord - centre) ** 2).sum(1) / (2 * width**2))
    field = field - field.mean()
    field = field / max(np.abs(field).max(), 1e-9)
    gain = (1.0 + variation * field)[:, None] * (1.0 + rng.normal(0, cast, 3))[None]
    return np.clip(np.rint(color * gain), 0, 255).astype(np.uint8)
