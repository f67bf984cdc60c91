# The geo source's input functions (no rules here: `snakemake --lint` wants functions
# apart from rules). A chip is an image of the shared train/predict rules; a scene's
# outputs gather its chips.
import json

GEO = PLAN.geo
GEO_EXT = {"GPKG": "gpkg", "GeoJSON": "geojson"}[GEO.data["vector_format"]]
GEO_CHECK = PATHS.geo_check()
# Scenes each variant predicts: validation scenes (thresholds, validation scores), the
# test and predict scenes (the all variant: GIS outputs, test scores).
GEO_SCENES = {
    "validation": GEO.scenes_with("validation"),
    "all": GEO.scenes_with("test", "predict"),
}


def geo_inputs():
    """What geo-check reads: the synthetic data's files, or the user's rasters and labels."""
    if GEO.data_dir is not None:
        return [f"{DATA}/scenes.csv", f"{DATA}/labels.gpkg", f"{DATA}/labelled_area.gpkg"]
    return [str(p) for p in GEO.input_files()]


def geo_scene_parts(variant, scene):
    """The predict parts holding a scene's chips."""
    chips = set(GEO.scene_chip_ids(scene))
    ids = PLAN.predict_ids(variant)
    size = PLAN.images_per_job
    return sorted({n // size for n, i in enumerate(ids) if i in chips})


def geo_prediction_dirs(wildcards):
    return [
        prediction_dir(wildcards.variant, g, p)
        for g in GROUPS
        for p in geo_scene_parts(wildcards.variant, wildcards.scene)
    ]


def geo_prediction_files(wildcards):
    chips = GEO.scene_chip_ids(wildcards.scene)
    return [
        f"{prediction_dir(wildcards.variant, g, p)}/{i}.h5"
        for g in GROUPS
        for p in geo_scene_parts(wildcards.variant, wildcards.scene)
        for i in PLAN.part_ids(wildcards.variant, p)
        if i in chips
    ]


def geo_cog(variant, scene):
    return PATHS.geo_probabilities(variant, scene)


def geo_polygons(variant, scene):
    return PATHS.geo_polygons(variant, scene, GEO_EXT)


def geo_pairs(flag, paths):
    """`--cogs SCENE=PATH ...` (one shell word per pair)."""
    return [flag, *(f"{s}={p}" for s, p in paths.items())]


def geo_class_settings():
    """Per class name: threshold (null: swept), epsilon and min_area (px)."""
    return json.dumps(
        {
            c.name: {k: PLAN.class_settings(c.id)[k] for k in ("threshold", "epsilon", "min_area")}
            for c in PLAN.class_info
        },
        sort_keys=True,
    )


# Classes whose threshold is chosen on validation: then geo-sweep runs.
GEO_SWEPT = [PLAN.class_names[k] for k in PLAN.swept_classes]
# Swept thresholds: chosen on this run's validation scenes, or (predict-only, without the
# validation variant) an earlier run's thresholds.json.
GEO_SWEEP = bool(GEO_SWEPT) and "validation" in PLAN.variants
GEO_THRESHOLDS = (
    [PATHS.geo_thresholds()] if GEO_SWEEP else [GEO.data["thresholds"]] if GEO_SWEPT else []
)
# Scores: which variant predicted the scenes of each labelled split.
GEO_SCORED = {"validation": "validation", "test": "all"}


def geo_targets():
    targets = []
    if "validation" in PLAN.variants:
        targets.append(PATHS.scores("validation"))
    if "all" in PLAN.variants:
        targets.append(PATHS.merged_polygons(GEO_EXT))
        targets += [geo_cog("all", s) for s in GEO_SCENES["all"]]
        if GEO.scenes_with("test"):
            targets.append(PATHS.scores("test"))
    return targets
