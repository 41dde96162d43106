"""Population pre-screening of a Bulk FHIR export: on every local core or on a Dask cluster.

`plan` → `shuffle` (pass 1: partitions of the export → one map file per partition, sections by patient bucket)
→ `buckets` (pass 2: a bucket's patients screened, outputs written per bucket) → `run` (the coordinator: executes
both passes on a process pool or a Dask client and merges what the workers wrote). Screening results are read
off the contract's trial reports, built only for the trials a patient is not ruled out of unless ineligible rows or
reports are asked for (of the others, the feasibility counts need only which criteria disqualify); the report JSON
is made only for the reports file.
"""
