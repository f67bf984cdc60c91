"""Keys that contradict each other, refused before any job (``Plan`` calls
``check_consistency`` once its ids and groups are known).

Each check names the key to change and how:

* a class that no group predicts: refused unless ``unmodelled_classes`` lists it (its
  submission column is then empty on purpose); a listed class that a group predicts,
  or that does not exist: refused. A geo source predicts every class of its
  ``data.class_map`` (a class it should not predict is left out of the map);
* ``classes.<k>`` for a class the source does not have (``classes.11`` on DSTL, a
  name not in ``data.class_map``): refused, it would be ignored;
* the validation variant without validation images (``validation_ids: []``): refused,
  its models, sweeps and scores need held-out images;
* a class whose threshold is swept on validation (``threshold: null``) without the
  validation variant: refused on DSTL / synthetic data (the geo source takes an
  earlier run's ``data.thresholds`` instead, checked by ``GeoSource.check_plan``).

Cheap: no numpy. The ids of validation and training (not training ids, repeated)
are checked by ``Plan`` itself.
"""

from __future__ import annotations

from dstl_hpc.errors import DstlError


def _listed(classes) -> str:
    return ", ".join(str(c) for c in classes)


def check_modelled(plan) -> None:
    """Every class is predicted by a group, or listed in ``unmodelled_classes``."""
    listed = list(plan.config.get("unmodelled_classes") or [])
    orphans = [c.id for c in plan.class_info if c.id not in plan.class_groups]
    if plan.geo is not None:
        if listed:
            raise DstlError(
                "config unmodelled_classes: a geo source predicts every class of "
                "data.class_map; leave a class out of data.class_map instead (its label "
                "values are then ignored and counted)"
            )
        if orphans:
            names = [plan.class_names[k] for k in orphans]
            raise DstlError(
                f"config groups: classes {names} are in no group (nothing predicts them); "
                "put them in a group, or leave them out of data.class_map"
            )
        return
    known = {str(c.id): c.id for c in plan.class_info}
    bad = [c for c in listed if str(c) not in known]
    if bad:
        raise DstlError(
            f"config unmodelled_classes: {_listed(bad)} not a class of this source "
            f"(classes {_listed(known)})"
        )
    ids = [known[str(c)] for c in listed]
    modelled = [k for k in ids if k in plan.class_groups]
    if modelled:
        where = "; ".join(f"{k} in {', '.join(plan.class_groups[k])}" for k in modelled)
        raise DstlError(
            f"config unmodelled_classes: classes {where}: a group predicts them; remove "
            "them from unmodelled_classes"
        )
    missing = [k for k in orphans if k not in ids]
    if missing:
        raise DstlError(
            f"config groups: classes {missing} are in no group (nothing predicts them: "
            "their submission column would be empty); put them in a group, or list them "
            f"in unmodelled_classes: {missing} to submit them empty on purpose"
        )


def check_class_keys(plan) -> None:
    """``classes.<k>`` names a class of the source (its id or, geo, its name)."""
    keys = {str(c.id) for c in plan.class_info}
    if plan.geo is not None:
        keys |= {c.name for c in plan.class_info}
    bad = [k for k in (plan.config.get("classes") or {}) if str(k) not in keys]
    if bad:
        known = ", ".join(sorted(keys, key=lambda k: (not k.isdigit(), k.zfill(3))))
        raise DstlError(
            f"config classes.{bad[0]}: not a class of this source (classes: {known}); its "
            "settings would be ignored"
        )


def check_validation(plan) -> None:
    """The validation variant has held-out images; swept thresholds have the variant."""
    if plan.geo is not None:  # GeoSource.check_plan: validation scenes, data.thresholds
        return
    if "validation" in plan.variants and not plan.validation_ids:
        raise DstlError(
            "config validation_ids: empty, but variants has validation, which trains without "
            "the validation images, chooses the thresholds and scores on them: give "
            "validation ids (null: the default ones), or set variants: [all] with a "
            "threshold for every class"
        )
    swept = plan.swept_classes
    if swept and "validation" not in plan.variants:
        raise DstlError(
            f"config variants: {plan.variants} has no validation, but the thresholds of "
            f"classes {swept} are swept on validation (threshold null): add validation to "
            "variants, or set classes.<k>.threshold (class_defaults.threshold for all)"
        )


def check_consistency(plan) -> None:
    """Every check of this module, in the order a user would fix them."""
    check_class_keys(plan)
    check_modelled(plan)
    check_validation(plan)
