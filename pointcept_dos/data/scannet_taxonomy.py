"""ScanNet's label taxonomy: the 20 benchmark classes, the categories behind them, class counts.

``segment20`` uses ScanNet's 20-class benchmark ids (the order of ``CLASS_NAMES``),
``segment200`` uses ScanNet200's *contiguous* ids, i.e. the position of a category in
ScanNet200's list of 200 valid classes (this is what Pointcept's ScanNet preprocessing
writes). Categories that ScanNet20 ignores (ceiling, lamp, pillow, box, tv, nightstand)
get ``segment20 = -1`` but keep their ScanNet200 id, exactly as in the real data.
"""

import numpy as np

IGNORE_INDEX = -1

CLASS_NAMES = (
    "wall",
    "floor",
    "cabinet",
    "bed",
    "chair",
    "sofa",
    "table",
    "door",
    "window",
    "bookshelf",
    "picture",
    "counter",
    "desk",
    "curtain",
    "refridgerator",
    "shower curtain",
    "toilet",
    "sink",
    "bathtub",
    "otherfurniture",
)

# fine category -> (segment20 id, ScanNet raw category id, segment200 contiguous id)
CATEGORIES = {
    "wall": (0, 1, 0),
    "floor": (1, 3, 2),
    "ceiling": (IGNORE_INDEX, 41, 35),
    "cabinet": (2, 7, 6),
    "kitchen cabinet": (2, 29, 25),
    "file cabinet": (2, 75, 65),
    "bathroom vanity": (2, 1164, 173),
    "bed": (3, 11, 10),
    "chair": (4, 2, 1),
    "office chair": (4, 10, 9),
    "armchair": (4, 23, 20),
    "couch": (5, 6, 5),
    "table": (6, 4, 3),
    "coffee table": (6, 24, 21),
    "dining table": (6, 45, 38),
    "end table": (6, 44, 37),
    "door": (7, 5, 4),
    "window": (8, 16, 14),
    "bookshelf": (9, 18, 16),
    "picture": (10, 15, 13),
    "counter": (11, 35, 30),
    "kitchen counter": (11, 159, 117),
    "bathroom counter": (11, 1156, 171),
    "desk": (12, 9, 8),
    "curtain": (13, 21, 18),
    "refrigerator": (14, 27, 23),
    "shower curtain": (15, 55, 47),
    "toilet": (16, 17, 15),
    "sink": (17, 14, 12),
    "bathtub": (18, 42, 36),
    "trash can": (19, 56, 48),
    "tv stand": (19, 51, 44),
    "ottoman": (19, 67, 57),
    "wardrobe": (19, 99, 83),
    "bench": (19, 68, 58),
    "lamp": (IGNORE_INDEX, 28, 24),
    "box": (IGNORE_INDEX, 26, 22),
    "pillow": (IGNORE_INDEX, 13, 11),
    "tv": (IGNORE_INDEX, 33, 28),
    "nightstand": (IGNORE_INDEX, 34, 29),
}

# categories that are "stuff" (no instance id), as the task's instance convention
STUFF = ("wall", "floor", "ceiling")


def class_histogram(segment20, num_classes=len(CLASS_NAMES)):
    """Point count per ScanNet20 class [num_classes] int64; -1 (ignored) is not counted."""
    s = np.asarray(segment20).reshape(-1)
    return np.bincount(s[s != IGNORE_INDEX], minlength=num_classes).astype(np.int64)
