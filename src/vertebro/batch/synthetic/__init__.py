"""Generated populations for agreement tests and benchmarks.

Two kinds:

* `fact_cases`: cases given directly as facts, every fact a policy tests either unknown or
  known with a value chosen to sit on and around the policy's thresholds. `unknown_masks`
  lists, for each rule's tree, every combination of its facts being unknown, so that a
  population built from it covers each combination at least once.
* `coded_case`: one patient's FHIR R4 resources as a payer's bulk export holds them (Patient,
  Claim or ServiceRequest, Condition, Observation, Encounter, MedicationRequest, Procedure),
  coded with the codes `vertebro.adapters.fhir.codes` knows and the element shapes its readers
  read, with the statuses, dates and links that change what they mean (refuted, resolved,
  sequela, outside the episode, tied to the request or not). `write_ndjson` writes a population
  as NDJSON files, one resource type per file, as `$export` does.

Everything is deterministic for a seed.
"""

from __future__ import annotations

from vertebro.batch.synthetic.base import AS_OF, Resource
from vertebro.batch.synthetic.export import Written, bundle, iter_cases, write_ndjson
from vertebro.batch.synthetic.facts import (
    fact_cases,
    policy_facts,
    random_value,
    thresholds,
    unknown_masks,
    witness,
)
from vertebro.batch.synthetic.fhir import coded_case

__all__ = [
    "AS_OF",
    "Resource",
    "Written",
    "bundle",
    "coded_case",
    "fact_cases",
    "iter_cases",
    "policy_facts",
    "random_value",
    "thresholds",
    "unknown_masks",
    "witness",
    "write_ndjson",
]
