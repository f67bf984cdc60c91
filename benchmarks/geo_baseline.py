"""A per-pixel baseline for the geo demo: is the UNet better than the band values alone?

On the geo demo's synthetic scenes (`config/geo.yaml`: 4 scenes of 512 px, 6 bands;
read from an existing run's ``RESULTS/geo/check.json``, else written afresh with
``write_geo_dataset`` and checked with ``check_inputs``), per-pixel classifiers are
trained on the 6 band values of the known pixels (labelled area and valid) and scored
with the workflow's pixel IoU (``dstl_hpc.sources.geo.scores``), the way the workflow
scores the UNet:

- fit on the train scenes, the threshold of each class chosen on the validation scene
  (best pixel IoU over ``sweep_thresholds``, ``choose_threshold``, as ``geo-sweep``);
- refit on train + validation (the workflow's ``all`` variant), scored on the held-out
  test scene at those thresholds (as ``RESULTS/test/scores.json``).

Classifiers (numpy only; one binary model per class, as classes may overlap):
``logistic`` (logistic regression, Newton steps, on the standardised bands and their
pairwise products: a quadratic boundary) and ``gaussian_nb`` (Gaussian naive Bayes).

    python benchmarks/geo_baseline.py [--results results-geo]

Writes --out (benchmarks/results/geo_baseline.json) with the UNet's test pixel IoU per
class (from RESULTS/test/scores.json) beside the baselines', and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

THRESHOLDS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]  # config/geo.yaml sweep_thresholds
CLASS_MAP = {  # config/geo.yaml data.class_map
    "building": ["Building"],
    "road": ["Road"],
    "water": ["Water"],
    "trees": ["Trees", "Woodland"],
}


# ------------------------------------------------------------------ data
def synthetic_check(work: Path) -> dict:
    """check.json of the geo demo's data, written afresh into ``work``."""
    from dstl_hpc.sources.geo.prepare import check_inputs
    from dstl_hpc.sources.geo.synthetic import write_geo_dataset

    data = work / "data"
    write_geo_dataset(data, scenes=4, size=512, seed=0)
    spec = {
        "scene_table": str(data / "scenes.csv"), "scenes": {}, "bands": None,
        "resolution": None, "value_range": None, "labels": [str(data / "labels.gpkg")],
        "labelled_area": [str(data / "labelled_area.gpkg")], "class_field": "landuse",
        "classes": CLASS_MAP, "chip_size": 256, "chip_overlap": 32,
    }  # fmt: skip
    return check_inputs(spec)


def scene_pixels(check: dict) -> dict:
    """Per scene: (split, float32 (C, H, W) bands, uint8 (N, H, W) truth, bool known)."""
    from dstl_hpc.sources.geo.labels import known_window, rasterize_window
    from dstl_hpc.sources.geo.outputs import _grid, _Truth
    from dstl_hpc.sources.geo.prepare import scene_files, value_ranges
    from dstl_hpc.sources.geo.reader import SceneReader

    truth = _Truth(check)
    out = {}
    for scene_id, s in check["scenes"].items():
        grid = _grid(check, scene_id)
        with SceneReader(scene_files(check, scene_id), grid, value_ranges(check["spec"])) as r:
            image, valid = r.read((0, 0, grid.height, grid.width))
        geoms, area = truth.scene(grid)
        planes = rasterize_window(geoms, grid.affine, valid.shape)
        known = known_window(area, valid.astype(bool), grid.affine).astype(bool)
        out[scene_id] = (s["split"], image.astype(np.float32), planes, known)
    return out


def samples(scenes: dict, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(float32 (P, C) bands, uint8 (P, N) truth) of the known pixels of ``ids``."""
    xs, ys = [], []
    for i in ids:
        _, image, planes, known = scenes[i]
        xs.append(image[:, known].T)
        ys.append(planes[:, known].T)
    return np.concatenate(xs), np.concatenate(ys)


# ------------------------------------------------------------------ classifiers
class Logistic:
    """Per-class logistic regression on standardised bands and their pairwise products
    (a quadratic boundary), fitted by Newton steps with a small L2 penalty."""

    def __init__(self, iters: int = 25, l2: float = 1e-3, max_fit: int = 200_000, seed=0):
        self.iters, self.l2, self.max_fit, self.seed = iters, l2, max_fit, seed

    def _features(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.std
        i, j = np.triu_indices(z.shape[1])
        return np.column_stack([np.ones(len(z), np.float32), z, z[:, i] * z[:, j]])

    def fit(self, x: np.ndarray, y: np.ndarray) -> Logistic:
        rng = np.random.default_rng(self.seed)
        if len(x) > self.max_fit:
            keep = rng.choice(len(x), self.max_fit, replace=False)
            x, y = x[keep], y[keep]
        self.mean, self.std = x.mean(0), x.std(0) + 1e-6
        f = self._features(x).astype(np.float64)
        penalty = self.l2 * len(f) * np.eye(f.shape[1])
        penalty[0, 0] = 0.0
        self.w = []
        for k in range(y.shape[1]):
            t = y[:, k].astype(np.float64)
            w = np.zeros(f.shape[1])
            for _ in range(self.iters):
                p = 1.0 / (1.0 + np.exp(-np.clip(f @ w, -30, 30)))
                grad = f.T @ (p - t) + penalty @ w
                hess = (f * (p * (1 - p))[:, None]).T @ f + penalty
                step = np.linalg.solve(hess, grad)
                w -= step
                if np.abs(step).max() < 1e-6:
                    break
            self.w.append(w)
        self.w = np.stack(self.w, 1)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """float32 (P, N) probabilities."""
        z = self._features(x).astype(np.float64) @ self.w
        return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)


class GaussianNB:
    """Per-class Gaussian naive Bayes (class vs the rest) on the bands."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> GaussianNB:
        x = x.astype(np.float64)
        self.params = []
        for k in range(y.shape[1]):
            pos = y[:, k].astype(bool)
            prior = np.clip(pos.mean(), 1e-9, 1 - 1e-9)
            stats = []
            for sel in (pos, ~pos):
                xs = x[sel] if sel.any() else x
                stats.append((xs.mean(0), xs.var(0) + 1e-3 * x.var(0) + 1e-6))
            self.params.append((prior, stats))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        out = np.empty((len(x), len(self.params)), np.float32)
        for k, (prior, ((m1, v1), (m0, v0))) in enumerate(self.params):
            ll1 = -0.5 * (((x - m1) ** 2) / v1 + np.log(v1)).sum(1) + np.log(prior)
            ll0 = -0.5 * (((x - m0) ** 2) / v0 + np.log(v0)).sum(1) + np.log(1 - prior)
            out[:, k] = 1.0 / (1.0 + np.exp(np.clip(ll0 - ll1, -30, 30)))
        return out


MODELS = {"logistic": Logistic, "gaussian_nb": GaussianNB}


# ------------------------------------------------------------------ scoring
def sweep(model, scenes: dict, ids: list[str], n: int) -> np.ndarray:
    """int64 (N, T, 3) counts of ``model`` over the known pixels of ``ids``."""
    from dstl_hpc.sources.geo.scores import sweep_counts

    total = np.zeros((n, len(THRESHOLDS), 3), np.int64)
    for i in ids:
        _, image, planes, known = scenes[i]
        c, h, w = image.shape
        prob = model.predict(image.reshape(c, -1).T).T.reshape(n, h, w)
        total += sweep_counts(prob, planes, known, THRESHOLDS)
    return total


def evaluate(name: str, scenes: dict, check: dict) -> dict:
    from dstl_hpc.sources.geo.scores import choose_threshold, mean_score, pixel_scores

    classes = list(check["classes"])
    n = len(classes)
    split = {s: [i for i, v in scenes.items() if v[0] == s] for s in ("train", "validation")}
    test = [i for i, v in scenes.items() if v[0] == "test"]
    t0 = time.perf_counter()
    model = MODELS[name]().fit(*samples(scenes, split["train"]))
    chosen = choose_threshold(sweep(model, scenes, split["validation"], n), THRESHOLDS)
    model = MODELS[name]().fit(*samples(scenes, split["train"] + split["validation"]))
    counts = sweep(model, scenes, test, n)
    at = np.stack([counts[k, THRESHOLDS.index(t)] for k, t in enumerate(chosen)])
    pixel = pixel_scores(at, classes)
    per_class = {
        c: {"iou": pixel[c]["iou"], "f1": pixel[c]["f1"], "threshold": t}
        for c, t in zip(classes, chosen, strict=True)
    }
    return {
        "classes": per_class,
        "mean_iou": mean_score(per_class, "iou"),
        "fit_and_score_s": round(time.perf_counter() - t0, 2),
        "train_scenes": split["train"],
        "threshold_scenes": split["validation"],
        "test_scenes": test,
    }


def unet_scores(results: Path) -> dict | None:
    path = results / "test" / "scores.json"
    if not path.exists():
        return None
    s = json.loads(path.read_text())
    return {
        "file": str(path),
        "classes": {
            c: {"iou": v["iou"], "threshold": v["threshold"]} for c, v in s["classes"].items()
        },  # fmt: skip
        "mean_iou": s["mean"]["iou"],
        "scenes": s.get("scenes"),
    }


def fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def table(classes, unet, baselines) -> str:
    names = list(baselines)
    lines = [f"{'class':<10} {'UNet':>8} " + " ".join(f"{n:>12}" for n in names)]
    for c in classes:
        u = unet["classes"][c]["iou"] if unet else None
        lines.append(
            f"{c:<10} {fmt(u):>8} "
            + " ".join(f"{fmt(baselines[n]['classes'][c]['iou']):>12}" for n in names)
        )
    lines.append(
        f"{'mean':<10} {fmt(unet['mean_iou'] if unet else None):>8} "
        + " ".join(f"{fmt(baselines[n]['mean_iou']):>12}" for n in names)
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Per-pixel classifiers (logistic regression, Gaussian naive Bayes; "
        "numpy) on the geo demo's bands, scored on the test scene with the workflow's "
        "pixel IoU beside the UNet's test/scores.json."
    )
    ap.add_argument(
        "--results", type=Path, default=ROOT / "results-geo",
        help="a geo demo run (its geo/check.json and test/scores.json; default results-geo)",
    )  # fmt: skip
    ap.add_argument(
        "--models", nargs="+", choices=sorted(MODELS), default=["logistic", "gaussian_nb"]
    )
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "geo_baseline.json"
    )
    args = ap.parse_args(argv)

    import os

    from dstl_hpc.atomic import write_json
    from dstl_hpc.prepare.stacks import read_json_file

    os.chdir(ROOT)  # check.json's paths are relative to the workflow's directory
    check_path = args.results / "geo" / "check.json"
    unet = unet_scores(args.results)
    if unet is None:
        print(f"{args.results}: no geo demo run (test/scores.json); the UNet column stays "
              "empty: run `snakemake --cores 2 --configfile config/geo.yaml` first")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="geo-baseline-") as tmp:
        if check_path.exists():
            check, source = read_json_file(check_path), str(check_path)
        else:
            check, source = synthetic_check(Path(tmp)), "write_geo_dataset (4 x 512 px, seed 0)"
        scenes = scene_pixels(check)
        baselines = {name: evaluate(name, scenes, check) for name in args.models}
    classes = list(check["classes"])
    write_json(
        args.out,
        {
            "command": " ".join(["python", "benchmarks/geo_baseline.py", *sys.argv[1:]]),
            "data": source,
            "channels": check["channels"],
            "known_pixels": {i: int(v[3].sum()) for i, v in scenes.items()},
            "sweep_thresholds": THRESHOLDS,
            "unet_test": unet,
            "baselines_test": baselines,
        },
    )
    print(table(classes, unet, baselines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
