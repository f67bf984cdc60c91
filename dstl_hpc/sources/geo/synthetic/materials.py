"""The materials painted into the synthetic geo scenes: paint codes of the class map and
the spectra (blue, green, red, nir, swir1, swir2) as reflectance x 10 000."""

# Paint codes of the class map, and the spectra (blue, green, red, nir, swir1, swir2) as
# reflectance x 10 000. Each class differs from the others in swir too.
BACKGROUND, WATER, TREES, PARKING, ROAD, BUILDING = range(6)
SPECTRA = {
    WATER: (560, 520, 320, 130, 70, 45),
    TREES: (260, 520, 300, 3900, 1300, 580),
    PARKING: (1050, 1100, 1150, 1350, 2150, 2050),
    ROAD: (1250, 1300, 1350, 1450, 1750, 1650),
}
ROOFS = (
    (2100, 2200, 2300, 2500, 2950, 2650),  # light grey
    (1500, 1700, 2500, 2400, 3100, 2900),  # tiles
    (2500, 2550, 2600, 2700, 3300, 3000),  # white
)
FIELDS = (
    (450, 800, 560, 2800, 2450, 1550),  # green crop
    (900, 1150, 1450, 2100, 3000, 2500),  # bare soil
    (720, 1000, 1200, 2600, 2750, 2000),  # dry grass
    (1000, 1250, 1500, 2300, 3250, 2800),  # stubble
)
