"""Use cases of the audit and outcomes registry: record procedures, complications and
follow-ups, import files, simulate a registry, build and render the audit report (JSON, HTML,
PDF with charts) and export a device incident report - on the service database (records under
their organisation, every read and write audited, pathways joined from linked cases) or on a
registry file of its own (the CLI's `--db`).

The statistics are computed in `core.registry.audit`; this package only reads and writes, draws
the charts (matplotlib, PNG embedded in the HTML) and fills the templates in
`vertebro/registry/templates`.
"""

from __future__ import annotations

from vertebro.registry_service.access import AUDIT_BATCH, RegistryUser, read_scope, record_refusal
from vertebro.registry_service.benchmark_charts import chart_funnels, chart_rates
from vertebro.registry_service.chart_style import (
    BAND,
    BLUE,
    GREEN,
    GRID,
    INK,
    LIMIT_95,
    LIMIT_998,
    MUTED,
    ORANGE,
    PURPLE,
    SKY,
    VERMILLION,
    _pct,
)
from vertebro.registry_service.checking import CaseLookup, RowProblem
from vertebro.registry_service.errors import (
    BadRecords,
    RegistryAmbiguous,
    RegistryForbidden,
    RegistryNotFound,
)
from vertebro.registry_service.file_store import open_repository
from vertebro.registry_service.importing import (
    ImportResult,
    import_file,
    import_file_to_database,
    import_reading,
    readings_in_order,
    store_reading,
    store_registry,
)
from vertebro.registry_service.outcome_charts import chart_pathways, chart_trajectory, chart_trends
from vertebro.registry_service.reads import (
    ProcedureDetail,
    audit_from_database,
    incident_from_database,
    list_procedures,
    load_linked,
    procedure_detail,
)
from vertebro.registry_service.recording import (
    record_complication,
    record_follow_up,
    record_procedure,
)
from vertebro.registry_service.report import (
    Charts,
    audit,
    findings,
    incident,
    render_charts,
    render_html,
    render_incident_html,
    render_incident_pdf,
    render_pdf,
    save_chart_png,
)
from vertebro.registry_service.simulation import simulate_registry, write_registry

__all__ = [
    "AUDIT_BATCH",
    "BAND",
    "BLUE",
    "GREEN",
    "GRID",
    "INK",
    "LIMIT_95",
    "LIMIT_998",
    "MUTED",
    "ORANGE",
    "PURPLE",
    "SKY",
    "VERMILLION",
    "BadRecords",
    "CaseLookup",
    "Charts",
    "ImportResult",
    "ProcedureDetail",
    "RegistryAmbiguous",
    "RegistryForbidden",
    "RegistryNotFound",
    "RegistryUser",
    "RowProblem",
    "_pct",
    "audit",
    "audit_from_database",
    "chart_funnels",
    "chart_pathways",
    "chart_rates",
    "chart_trajectory",
    "chart_trends",
    "findings",
    "import_file",
    "import_file_to_database",
    "import_reading",
    "incident",
    "incident_from_database",
    "list_procedures",
    "load_linked",
    "open_repository",
    "procedure_detail",
    "read_scope",
    "readings_in_order",
    "record_complication",
    "record_follow_up",
    "record_procedure",
    "record_refusal",
    "render_charts",
    "render_html",
    "render_incident_html",
    "render_incident_pdf",
    "render_pdf",
    "save_chart_png",
    "simulate_registry",
    "store_reading",
    "store_registry",
    "write_registry",
]
