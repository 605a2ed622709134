"""Data contract, features, pipeline stages and the prediction service of this project."""

import pandas as pd

# pandas 2 (a feature-store project's: Feast needs it) reads text as the `str` dtype, as pandas 3
# does: one code base then serves both, with the same dtypes in frames, Parquet and the model's inputs.
if pd.__version__.startswith("2."):
    pd.options.future.infer_string = True
