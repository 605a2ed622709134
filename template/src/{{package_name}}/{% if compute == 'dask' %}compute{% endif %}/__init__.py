"""The pipeline and batch scoring on a Dask cluster: params.yaml `compute.engine: dask` (see docs/compute.md)."""
