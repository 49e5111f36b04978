"""The edit space every part of editdsc agrees on: attribute names, their degree scale and their names.

Five attributes on the CelebA-Dialog scale 0..u (u = :data:`MAX_DEGREE` = 5), in bundle order. The degree rises
with beard and with age whatever Talk-to-Edit's names say (``No_Beard``, ``Young``).

* :data:`ATTRIBUTES`: the project's names (bundle manifests, predictor and field heads, the parser's classes);
* :data:`TALK2EDIT_ATTRIBUTES`: Talk-to-Edit's names for the same attributes, same order;
* :data:`DEGREE_NAMES`: what degree ``d`` of each attribute looks like (CelebA-Dialog's descriptions).
"""

from __future__ import annotations

__all__ = ["ATTRIBUTES", "TALK2EDIT_ATTRIBUTES", "NUM_DEGREES", "MAX_DEGREE", "DEGREE_NAMES"]

ATTRIBUTES: tuple[str, ...] = ("bangs", "eyeglasses", "beard", "smiling", "age")
#: Talk-to-Edit's names (configs/attributes_5.json), in :data:`ATTRIBUTES` order.
TALK2EDIT_ATTRIBUTES: tuple[str, ...] = ("Bangs", "Eyeglasses", "No_Beard", "Smiling", "Young")
NUM_DEGREES = 6                     # degrees 0..5
MAX_DEGREE = NUM_DEGREES - 1        # u

#: CelebA-Dialog names of the degrees 0..u of each attribute.
DEGREE_NAMES: dict[str, tuple[str, ...]] = {
    "bangs": ("none", "very short", "short", "half forehead", "long", "covering forehead"),
    "eyeglasses": ("none", "rimless", "thin frame", "thick frame", "thin-frame sunglasses", "thick-frame sunglasses"),
    "beard": ("none", "stubble", "short", "medium", "bushy", "full"),
    "smiling": ("serious", "corners up", "some teeth", "beaming", "big smile", "laughing"),
    "age": ("child", "teen", "young adult", "40s", "60s", "80s"),
}
