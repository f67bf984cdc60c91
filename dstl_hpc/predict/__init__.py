"""Prediction: probability maps of whole images.

* :mod:`~dstl_hpc.predict.predictor`: the predictor file (the model, its ensemble
  members or best epochs, or an index model, with the prediction settings);
* :mod:`~dstl_hpc.predict.settings`: ``PredictSettings``, a group's prediction settings
  as one object (no torch);
* :mod:`~dstl_hpc.predict.tiled`: the one tiler, also validation's, with
  :mod:`~dstl_hpc.predict.options` (``PredictOptions``: how one prediction runs);
* :mod:`~dstl_hpc.predict.files`: stack files predicted with a predictor file, with
  :mod:`~dstl_hpc.predict.model_input` (``ModelInput``: what a model reads from a stack);
* :mod:`~dstl_hpc.predict.tiles`: tile sizes and mirror indices;
* :mod:`~dstl_hpc.predict.mosaic`: scene neighbours as context.
"""
