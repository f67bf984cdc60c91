"""The geo source's config keys (``data: {source: geo, ...}``), each defined once.

``GEO`` maps each key to its JSON schema with default and description; ``GEO_DEFAULTS``
are its defaults, which ``Plan`` reads. ``dstl_hpc.config.schema`` puts them under
``data`` in the JSON schema.

Imported by the Snakefile: stays cheap (no numpy, no torch).
"""

from __future__ import annotations

from dstl_hpc.config.schema_keys import key

# The geo source (``data: {source: geo, ...}``): a team's own georeferenced scenes.
_PATHS = {"type": ["string", "array", "null"], "items": {"type": "string"}}
GEO = {
    "scenes": key(
        {"type": ["string", "null"]},
        None,
        "scene table: a CSV (scene,split,files; files separated by ';') or a YAML list of "
        "{id, split, files}; split: train, validation, test or predict; relative paths are "
        "relative to the table",
    ),
    "scene_globs": key(
        {
            "type": ["object", "null"],
            "propertyNames": {"enum": ["train", "validation", "test", "predict"]},
            "additionalProperties": {"type": ["string", "array"], "items": {"type": "string"}},
        },
        None,
        "instead of a table: {split: [glob, ...]}, one scene per matched raster, named by its stem",
    ),
    "geo_synthetic": key(
        {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "scenes": {"type": "integer", "minimum": 3},
                "size": {"type": "integer", "minimum": 128, "maximum": 8192},
                "seed": {"type": "integer"},
            },
        },
        None,
        "instead of scenes: synthetic georeferenced scenes the workflow writes under "
        "<results>/data ({scenes: 4, size: 512, seed: 0}: 2 m UTM rasters, a 4 m JPEG 2000 "
        "second file, labels in a GeoPackage in EPSG:4326)",
    ),
    "bands": key(
        {
            "type": ["array", "null"],
            "items": {"type": ["array", "null"], "items": {"type": "integer", "minimum": 1}},
        },
        None,
        "per file position of a scene: the 1-based bands to use (null: all)",
    ),
    "align": key(
        {"type": "boolean"},
        False,
        "estimate each scene's file-to-file misregistration (phase correlation + ECC on the "
        "grid's centre, the DSTL alignment) and correct it while cutting chips",
    ),
    "resolution": key(
        {"type": ["number", "null"], "exclusiveMinimum": 0},
        None,
        "pixel size of the scene grid in the first file's CRS units (null: the finest file's)",
    ),
    "value_range": key(
        {"type": ["array", "object", "null"]},
        None,
        "for bands that are not uint8/uint16: [lo, hi] mapped to the model's 0..65535 "
        "(or {band position: [lo, hi]})",
    ),
    "labels": key(
        _PATHS, None, "label vector files (any OGR format and CRS; path::layer picks a layer)"
    ),
    "class_field": key(
        {"type": ["string", "null"]}, None, "the labels' attribute holding the class"
    ),
    "class_map": key(
        {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": ["array", "string", "number"],
                "items": {"type": ["string", "number"]},
            },
        },
        None,
        "class name -> the class_field values that mean it, in class order (class ids 1..N); "
        "other values are ignored and counted",
    ),
    "labelled_area": key(
        _PATHS,
        None,
        "polygons where labels are complete (null: everywhere); outside them the "
        "loss and the metric ignore pixels",
    ),
    "region_split": key(
        {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "validation": _PATHS,
                "test": {
                    "type": ["string", "array", "boolean", "null"],
                    "items": {"type": "string"},
                },
                "block": {"type": ["integer", "null"], "minimum": 1},
                "every": {"type": "integer", "minimum": 2},
                "buffer": {"type": "integer", "minimum": 0},
            },
        },
        None,
        "hold out regions of train scenes (one large scene): {validation: polygons, test: "
        "polygons} or {block: N chips, every: 5, test: true} (block (i, j) is validation when "
        "(i + j) % every == 0, test when 1); buffer: px kept between training and held-out chips",
    ),
    "chip_size": key({"type": "integer", "minimum": 64}, 512, "chip side (px): the DAG's unit"),
    "chip_overlap": key(
        {"type": "integer", "minimum": 0}, 64, "px shared by neighbouring chips (blended)"
    ),
    "chips_per_job": key({"type": "integer", "minimum": 1}, 16, "chips per geo-chips job"),
    "thresholds": key(
        {"type": ["string", "null"]},
        None,
        "without the validation variant (predict-only): an earlier run's "
        "validation/thresholds.json for the classes without a fixed threshold",
    ),
    "output_crs": key(
        {"type": ["string", "null"]}, None, "CRS of the polygon files (null: each scene's)"
    ),
    "vector_format": key({"enum": ["GPKG", "GeoJSON"]}, "GPKG", "format of the polygon files"),
}
GEO_DEFAULTS = {k: v.get("default") for k, v in GEO.items()}
