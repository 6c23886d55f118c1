"""Read FHIR R4 input (Bundles of any type, Da Vinci PAS requests, lone resources) into a Case.

Plain dict traversal over parsed JSON, one module per kind of resource; see `reader` for the
order of reading and `adapters.combine` for how readings are merged. Public entry points:
`load_fhir_file`, `read_fhir` and `FhirReading`; `MAX_FHIR_BYTES` is the size limit.
"""

from vertebro.adapters.fhir.bundle import MAX_FHIR_BYTES, parse_json
from vertebro.adapters.fhir.reader import FhirReading, load_fhir_file, read_fhir

__all__ = ["MAX_FHIR_BYTES", "FhirReading", "load_fhir_file", "parse_json", "read_fhir"]
