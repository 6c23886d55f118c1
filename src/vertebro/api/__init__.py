"""The HTTP API (FastAPI): assessment, prior-authorisation cases, Da Vinci PAS / CRD / DTR.

`main.create_app(settings)` builds the application; `vertebro serve` runs it with uvicorn.
Routes only parse, call the use cases in `vertebro.case_service` and render; the FHIR wire
formats are in `vertebro.api.fhir`.
"""
