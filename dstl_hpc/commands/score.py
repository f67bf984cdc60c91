"""dstl-hpc score TRUTH_CSV PRED_CSV [PRED_CSV ...] [--images ID ...] [--json OUT] ..."""

from __future__ import annotations

import argparse

from dstl_hpc.argtypes import class_type


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("truth", help="truth polygons CSV (train_wkt_v4.csv)")
    p.add_argument(
        "predictions",
        nargs="+",
        help="predicted polygon CSVs (a later file overrides an earlier one per image/class)",
    )
    p.add_argument(
        "--images", nargs="+", default=None, help="ids to score (default: truth ids predicted)"
    )
    p.add_argument(
        "--classes",
        nargs="+",
        type=class_type,
        default=None,
        help="ClassTypes to score (default: the classes present in the predictions)",
    )
    p.add_argument("--json", default=None, help="write the scores as JSON here")
    p.add_argument(
        "--classes-json",
        default=None,
        help="the run's classes (results/classes.json): the classes of per_class and their "
        "names (default: the DSTL classes)",
    )
    p.add_argument(
        "--sweeps",
        nargs="+",
        default=[],
        help="threshold sweep JSONs (dstl-hpc sweep) of the scored images: per_class and "
        "mean become held-out (leave-one-image-out) scores, the tuned ones are kept as "
        "per_class_tuned and mean_tuned; each of another class than --classes, of other "
        "images than those scored, or of a class already given is refused",
    )
    p.add_argument(
        "--split",
        choices=("validation", "test"),
        default="validation",
        help="which images are scored, for the table's labels: test scores are held out "
        "(their thresholds were chosen on the validation images)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="DSTL data directory (three_band/, grid_sizes.csv) for the pixel Jaccard",
    )


def run(args) -> int:
    from dstl_hpc.paths import JSON, guard_outputs
    from dstl_hpc.scoring.files import write_scores
    from dstl_hpc.scoring.metrics import format_table, score
    from dstl_hpc.scoring.sweep import with_held_out
    from dstl_hpc.sources import classes_of

    guard_outputs(
        {"--json": args.json},
        [args.truth, *args.predictions, *args.sweeps, args.classes_json],
        suffixes={"--json": JSON},
        data_dirs=[args.data_dir],
    )

    known = classes_of(args.classes_json)
    result = score(
        args.truth,
        args.predictions,
        images=args.images,
        classes=args.classes,
        data_dir=args.data_dir,
        known=known,
    )
    if args.sweeps:
        result = with_held_out(result, _sweeps(args.sweeps, args.classes, result["images"]))
    if args.json:
        write_scores(args.json, result)
    print(format_table(result, known, args.split))
    return 0


def _sweeps(paths, classes, images) -> list[dict]:
    """The sweeps, each checked to be of a scored class (``--classes``), of the scored
    images, and of a class no other sweep given is of."""
    from dstl_hpc.errors import DstlError
    from dstl_hpc.scoring.files import read_sweep

    seen: dict[int, str] = {}
    out = []
    for path in paths:
        d = read_sweep(path, expect_class=classes, expect_images=images)
        k = int(d["class"])
        if k in seen:
            raise DstlError(f"{path}: a threshold sweep of class {k}, as is {seen[k]}")
        seen[k] = str(path)
        out.append(d)
    return out
