# The source's classes (id, name, kind: dstl_hpc.sources.base), written once for both
# sources: score, the plots and `dstl-hpc summary` read their names from classes.json.
from dstl_hpc.sources.base import classes_json


localrules:
    classes,


rule classes:
    output:
        PATHS.classes(),
    log:
        f"{LOGS}/classes.log",
    params:
        classes=classes_json(PLAN.class_info),
    run:
        from dstl_hpc.atomic import write_text

        write_text(output[0], params.classes + "\n")
