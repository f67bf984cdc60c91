"""Materials: the reflectance spectra the scenes are painted with, and which class uses which.

Each material has a reflectance in the 16 bands M1..M8 (coastal, blue, green,
yellow, red, red edge, NIR1, NIR2) and A1..A8 (SWIR). Classes are not separable
by colour alone: tracks and ploughed fields share the bare-soil spectrum, waterway
and standing water share one spectrum, grey roofs look like concrete roads, ripe
crops like dry grass.
"""

from __future__ import annotations

import numpy as np

# Reflectance in M1..M8 (coastal, blue, green, yellow, red, red edge, NIR1, NIR2)
# then A1..A8 (SWIR 1.2 .. 2.3 um).
# fmt: off
MATERIALS: dict[str, tuple[float, ...]] = {
    #                M1     M2     M3     M4     M5     M6     M7     M8
    #                A1     A2     A3     A4     A5     A6     A7     A8
    "grass":        (0.050, 0.050, 0.090, 0.080, 0.060, 0.200, 0.420, 0.440,
                     0.340, 0.280, 0.260, 0.240, 0.140, 0.130, 0.120, 0.110),
    "dry_grass":    (0.070, 0.080, 0.120, 0.130, 0.130, 0.200, 0.300, 0.310,
                     0.360, 0.360, 0.350, 0.330, 0.250, 0.240, 0.230, 0.220),
    "soil":         (0.080, 0.100, 0.140, 0.170, 0.200, 0.230, 0.260, 0.280,
                     0.320, 0.360, 0.370, 0.360, 0.310, 0.300, 0.290, 0.280),
    "track":        (0.090, 0.110, 0.150, 0.180, 0.210, 0.240, 0.270, 0.290,
                     0.330, 0.370, 0.380, 0.370, 0.320, 0.310, 0.300, 0.290),
    "asphalt":      (0.080, 0.080, 0.090, 0.090, 0.100, 0.100, 0.110, 0.110,
                     0.120, 0.130, 0.130, 0.130, 0.120, 0.120, 0.120, 0.120),
    "concrete":     (0.160, 0.180, 0.200, 0.210, 0.220, 0.230, 0.240, 0.250,
                     0.270, 0.290, 0.290, 0.290, 0.260, 0.260, 0.250, 0.250),
    "roof_red":     (0.060, 0.060, 0.070, 0.120, 0.220, 0.240, 0.270, 0.280,
                     0.310, 0.330, 0.330, 0.320, 0.280, 0.270, 0.260, 0.260),
    "roof_grey":    (0.140, 0.160, 0.180, 0.190, 0.200, 0.210, 0.220, 0.230,
                     0.250, 0.270, 0.270, 0.270, 0.240, 0.240, 0.230, 0.230),
    "roof_metal":   (0.300, 0.320, 0.330, 0.330, 0.330, 0.330, 0.330, 0.330,
                     0.310, 0.300, 0.300, 0.300, 0.280, 0.280, 0.270, 0.270),
    "roof_dark":    (0.050, 0.050, 0.060, 0.060, 0.060, 0.070, 0.080, 0.080,
                     0.090, 0.100, 0.100, 0.100, 0.090, 0.090, 0.090, 0.090),
    "wood":         (0.070, 0.080, 0.100, 0.120, 0.140, 0.160, 0.180, 0.190,
                     0.240, 0.270, 0.270, 0.260, 0.220, 0.210, 0.210, 0.200),
    "trees":        (0.030, 0.030, 0.060, 0.050, 0.040, 0.150, 0.360, 0.380,
                     0.240, 0.170, 0.150, 0.140, 0.070, 0.070, 0.060, 0.060),
    "trees_light":  (0.040, 0.040, 0.080, 0.060, 0.050, 0.180, 0.400, 0.420,
                     0.280, 0.200, 0.180, 0.170, 0.090, 0.090, 0.080, 0.080),
    "crop_green":   (0.040, 0.040, 0.090, 0.070, 0.050, 0.220, 0.480, 0.500,
                     0.360, 0.280, 0.260, 0.240, 0.130, 0.120, 0.110, 0.100),
    "crop_ripe":    (0.070, 0.080, 0.130, 0.150, 0.160, 0.220, 0.310, 0.320,
                     0.370, 0.380, 0.370, 0.350, 0.270, 0.260, 0.250, 0.240),
    "crop_plough":  (0.080, 0.090, 0.130, 0.160, 0.190, 0.220, 0.250, 0.270,
                     0.310, 0.350, 0.360, 0.350, 0.300, 0.290, 0.280, 0.270),
    "water":        (0.070, 0.080, 0.080, 0.060, 0.040, 0.030, 0.020, 0.015,
                     0.010, 0.008, 0.008, 0.008, 0.005, 0.005, 0.005, 0.005),
    "water_turbid": (0.080, 0.090, 0.110, 0.090, 0.070, 0.050, 0.040, 0.030,
                     0.020, 0.012, 0.011, 0.010, 0.008, 0.008, 0.008, 0.008),
    "veh_white":    (0.400, 0.420, 0.430, 0.430, 0.430, 0.420, 0.410, 0.400,
                     0.350, 0.330, 0.320, 0.310, 0.280, 0.280, 0.270, 0.270),
    "veh_black":    (0.050, 0.050, 0.050, 0.050, 0.050, 0.050, 0.060, 0.060,
                     0.060, 0.060, 0.060, 0.060, 0.060, 0.060, 0.060, 0.060),
    "veh_red":      (0.060, 0.050, 0.050, 0.100, 0.300, 0.320, 0.330, 0.330,
                     0.300, 0.280, 0.280, 0.270, 0.240, 0.240, 0.230, 0.230),
    "veh_blue":     (0.120, 0.160, 0.100, 0.070, 0.050, 0.060, 0.080, 0.080,
                     0.080, 0.080, 0.080, 0.080, 0.070, 0.070, 0.070, 0.070),
    "veh_silver":   (0.250, 0.260, 0.270, 0.270, 0.270, 0.270, 0.270, 0.270,
                     0.240, 0.230, 0.230, 0.220, 0.200, 0.200, 0.190, 0.190),
    "veh_green":    (0.050, 0.050, 0.090, 0.080, 0.070, 0.100, 0.140, 0.150,
                     0.140, 0.130, 0.120, 0.120, 0.100, 0.100, 0.090, 0.090),
    "veh_yellow":   (0.080, 0.090, 0.280, 0.330, 0.350, 0.360, 0.360, 0.360,
                     0.320, 0.300, 0.300, 0.290, 0.260, 0.260, 0.250, 0.250),
}
# fmt: on
MATERIAL_NAMES = tuple(MATERIALS)

# Class 0 is the unlabelled background. A class's pixels take one of its materials,
# chosen per object (per area for the background) with these weights.
CLASS_MATERIALS: dict[int, tuple[tuple[str, float], ...]] = {
    0: (("grass", 0.6), ("dry_grass", 0.2), ("soil", 0.2)),
    1: (("roof_red", 0.35), ("roof_grey", 0.35), ("roof_metal", 0.15), ("roof_dark", 0.15)),
    2: (("concrete", 0.3), ("wood", 0.3), ("roof_metal", 0.2), ("roof_dark", 0.2)),
    3: (("asphalt", 0.7), ("concrete", 0.3)),
    4: (("track", 1.0),),
    5: (("trees", 0.6), ("trees_light", 0.4)),
    6: (("crop_green", 0.45), ("crop_ripe", 0.3), ("crop_plough", 0.25)),
    7: (("water", 0.6), ("water_turbid", 0.4)),
    8: (("water", 0.6), ("water_turbid", 0.4)),
    9: (("veh_white", 0.4), ("veh_silver", 0.3), ("veh_green", 0.15), ("veh_yellow", 0.15)),
    10: (
        ("veh_white", 0.25),
        ("veh_black", 0.2),
        ("veh_silver", 0.25),
        ("veh_red", 0.15),
        ("veh_blue", 0.15),
    ),
}
# Multiplicative texture amplitude of each class (tree crowns are strongly textured).
TEXTURE = (0.10, 0.05, 0.06, 0.04, 0.08, 0.30, 0.07, 0.03, 0.03, 0.03, 0.03)


def material_table() -> tuple[np.ndarray, dict[str, int]]:
    """(reflectance table (materials, 16) float32, material name -> row index)."""
    return np.array([MATERIALS[n] for n in MATERIAL_NAMES], np.float32), {
        n: i for i, n in enumerate(MATERIAL_NAMES)
    }


def pick(rng: np.random.Generator, class_type: int) -> str:
    """A material of the class, drawn with the class's weights."""
    names, weights = zip(*CLASS_MATERIALS[class_type], strict=True)
    w = np.asarray(weights, dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]
