"""The audit and outcomes registry: records, validation, statistics and the audit (pure).

Modules: `model` (records), `rows` (typed input rows), `validation` (checks across records),
`benchmarks` (published figures with their sources), `stats` (Wilson intervals, funnel limits),
`audit` (the report, with its JSON shape in `audit_models` and what each rate counts in
`audit_metrics`), `simulate` (a synthetic registry), `incident` (a device incident report),
`ports` (the storage port), `linking` (the pathway from a linked prior-authorisation case).
"""
