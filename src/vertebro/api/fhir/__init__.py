"""FHIR wire formats of the API: OperationOutcome, Da Vinci PAS, CDS Hooks / CRD and DTR.

Each code table carries its source (implementation guide and version) and its confidence.
"""
