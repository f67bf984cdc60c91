"""dstl-hpc plots {training,sweeps,table,overlay} ...: the report's figures and tables.

dstl-hpc plots training METRICS_CSV [...] --out-dir DIR [--validation-ids ID ...]
    DIR/training_{group}.png per group ({variant}/{group}/metrics.csv paths)
dstl-hpc plots sweeps SWEEP_JSON [...] --out-dir DIR
    DIR/threshold_class_{k}.png per class
dstl-hpc plots table SCORES_JSON [--split validation|test] [--sweeps JSON ...]
                     [--truth CSV] [--grid-sizes CSV] [--fixed-threshold K=T ...]
                     [--csv OUT] [--html OUT] [--png OUT]
    the per-class validation (or test) table against the all-zero baseline, and its
    bar chart
dstl-hpc plots overlay STACK_H5 --truth CSV --grid-sizes CSV --polygons CSV [...]
                       --group NAME=K,K ... --out-dir DIR [--image ID] [--split WORD]
                       [--note TEXT]
    DIR/{image}_{group}.png per group: RGB with truth and predicted polygons

Every figure and table names its score (polygon or pixel Jaccard; held out or tuned)
and the images it was measured on.

Each takes --classes-json CLASSES_JSON (the run's results/classes.json) for the class
names; without it, the DSTL classes.
"""

from __future__ import annotations

import argparse

from dstl_hpc.errors import DstlError


def _fixed(text: str) -> tuple[int, float]:
    try:
        k, t = text.split("=", 1)
        return int(k), float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected K=THRESHOLD, e.g. 3=0.4") from None


def _group(text: str) -> tuple[str, list[int]]:
    try:
        name, ks = text.split("=", 1)
        classes = [int(k) for k in ks.split(",") if k.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=K,K,..., e.g. built=1,2"
        ) from None
    if not name or not classes:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=K,K,..., e.g. built=1,2")
    return name, classes


def _classes_json(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--classes-json",
        default=None,
        help="the run's classes (results/classes.json; default: the DSTL classes)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)

    t = sub.add_parser("training", help="training curves, one PNG per group")
    t.add_argument("metrics", nargs="+", help="metrics CSVs at .../{variant}/{group}/metrics.csv")
    t.add_argument("--out-dir", required=True, help="writes training_{group}.png here")
    t.add_argument(
        "--validation-ids",
        nargs="*",
        default=[],
        metavar="ID",
        help="the validation images the metrics were measured on (named in the titles)",
    )
    _classes_json(t)

    s = sub.add_parser("sweeps", help="threshold-sweep curves, one PNG per class")
    s.add_argument(
        "sweeps", nargs="+", help="threshold sweep JSONs (validation/thresholds/class_{k}.json)"
    )
    s.add_argument("--out-dir", required=True, help="writes threshold_class_{k}.png here")
    _classes_json(s)

    b = sub.add_parser("table", help="per-class score table vs the all-zero baseline")
    b.add_argument("scores", help="scores JSON (validation/scores.json, test/scores.json)")
    b.add_argument(
        "--split",
        choices=["validation", "test"],
        default="validation",
        help="the images the scores are of (default validation); test scores are held "
        "out (thresholds chosen on the validation images)",
    )
    b.add_argument("--sweeps", nargs="*", default=[], help="threshold sweep JSONs")
    b.add_argument(
        "--truth",
        default=None,
        help="train_wkt_v4.csv: which classes have truth area (baseline 0 vs undefined)",
    )
    b.add_argument("--grid-sizes", default=None, help="grid_sizes.csv: adds the truth cover %%")
    b.add_argument(
        "--fixed-threshold",
        nargs="*",
        type=_fixed,
        default=[],
        metavar="K=T",
        help="thresholds fixed in the configuration (classes without a sweep)",
    )
    b.add_argument("--csv", default=None, help="write the table as CSV here")
    b.add_argument("--html", default=None, help="write the table as an HTML page here")
    b.add_argument("--png", default=None, help="write the bar chart here")
    _classes_json(b)

    o = sub.add_parser("overlay", help="RGB with truth and predicted polygons, per class group")
    o.add_argument("stack", help="the image's stack (stacks/part{p}/{id}.h5)")
    o.add_argument("--truth", required=True, help="truth polygons (train_wkt_v4.csv)")
    o.add_argument("--grid-sizes", required=True, help="grid_sizes.csv")
    o.add_argument(
        "--polygons", nargs="+", required=True, help="predicted polygon CSVs (per class)"
    )
    o.add_argument(
        "--group",
        nargs="+",
        type=_group,
        required=True,
        metavar="NAME=K,K",
        help="class groups, one PNG each",
    )
    o.add_argument("--out-dir", required=True, help="writes {image}_{group}.png here")
    o.add_argument("--image", default=None, help="image id (default: the stack's image_id)")
    o.add_argument("--width", type=int, default=800, help="PNG width in pixels (default 800)")
    o.add_argument(
        "--split", default="validation", help="the image's set, for the title (default validation)"
    )
    o.add_argument("--note", default=None, help="a line under the title: which polygons these are")
    _classes_json(o)


def run(args) -> int:
    """Draw what the subcommand asks for; one branch per figure or table."""
    from dstl_hpc.paths import guard_outputs
    from dstl_hpc.plots import figures, tables
    from dstl_hpc.plots.overlays import overlays
    from dstl_hpc.sources import classes_of

    classes = classes_of(args.classes_json)
    if args.what == "training":
        written = figures.training_curves(
            args.metrics, args.out_dir, classes, valid_ids=args.validation_ids
        )
    elif args.what == "sweeps":
        written = figures.sweep_curves(args.sweeps, args.out_dir, classes)
    elif args.what == "table":
        if not (args.csv or args.html or args.png):
            raise DstlError("plots table: give at least one of --csv, --html, --png")
        outputs = {"--csv": args.csv, "--html": args.html, "--png": args.png}
        guard_outputs(
            outputs,
            [args.scores, *args.sweeps, args.truth, args.grid_sizes, args.classes_json],
            suffixes={"--csv": (".csv",), "--html": (".html", ".htm"), "--png": (".png",)},
        )
        rows, mean = tables.score_table(
            args.scores,
            args.sweeps,
            truth_csv=args.truth,
            grid_sizes=args.grid_sizes,
            fixed=dict(args.fixed_threshold),
            classes=classes,
            split=args.split,
        )
        written = []
        if args.csv:
            tables.write_table_csv(args.csv, rows, mean)
            written.append(args.csv)
        if args.html:
            tables.write_table_html(args.html, rows, mean)
            written.append(args.html)
        if args.png:
            written.append(tables.score_bars(args.png, rows, mean))
    elif args.what == "overlay":
        groups = {}
        for name, ks in args.group:
            if name in groups:
                raise DstlError(f"--group {name}: given twice")
            groups[name] = ks
        if args.width < 100:
            raise DstlError(f"--width {args.width}: too small (at least 100)")
        written = overlays(
            args.stack,
            args.truth,
            args.grid_sizes,
            args.polygons,
            groups,
            args.out_dir,
            image_id=args.image,
            width_px=args.width,
            classes=classes,
            split=args.split,
            note=args.note,
        )
    else:  # argparse rejects it before
        raise DstlError(f"plots: unknown figure {args.what!r}")
    for path in written:
        print(path)
    return 0
