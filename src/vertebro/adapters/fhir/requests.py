"""The requested procedures: Claim items (use = preauthorization) and ServiceRequests.

A procedure is recognised by its code (CPT 22510-22515, 0200T/0201T, HCPCS S2360/S2361) or,
for codes of other systems such as SNOMED CT, by the words of its display or text
(`codes.procedure_by_words`). Levels come from bodySite / subSite (codings or text) and the
item's or request's text. Items for the same procedure are merged into one request (a primary
code and its add-on are one procedure at several levels). The request date is Claim.created
of a prior-authorisation Claim, else the latest ServiceRequest.authoredOn.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from vertebro.adapters.fhir import codes
from vertebro.adapters.fhir.bundle import Entry
from vertebro.adapters.fhir.context import LinkedConcept, ReadContext
from vertebro.adapters.fhir.elements import (
    JsonObj,
    codings,
    concept_text,
    concept_words,
    levels_in_text,
    objs,
    parse_date,
    reference,
    string,
)
from vertebro.core.catalogue import Procedure
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Provenance
from vertebro.core.levels import SACRUM, Level, Region

REQUESTED_SERVICE = "extension-requestedService"
SKIPPED_SR_STATUS = {"revoked", "entered-in-error", "completed"}
SKIPPED_CLAIM_STATUS = {"cancelled", "entered-in-error"}


@dataclass
class _Found:
    """One recognised procedure in one item or request."""

    procedure: Procedure
    provenance: Provenance
    regions: frozenset[Region] | None  # from the code's descriptor; None when read from words


@dataclass
class _Group:
    levels: set[Level] = field(default_factory=set)
    evidence: list[Provenance] = field(default_factory=list)


def read_requests(ctx: ReadContext) -> tuple[ProcedureRequest, ...]:
    """Every requested cement augmentation, one per procedure; sets the request date."""
    groups: dict[Procedure, _Group] = {}
    claim_dates: list[dt.date] = []
    order_dates: list[dt.date] = []
    for claim in ctx.index.of_type("Claim"):
        use = string(claim.resource.get("use"))
        if use != "preauthorization":
            if use == "predetermination":
                ctx.warn(f"{claim.name}: a predetermination, not a prior-authorisation request; "
                         "not read as a request")
            continue
        status = string(claim.resource.get("status"))
        if status in SKIPPED_CLAIM_STATUS:
            ctx.warn(f"{claim.name}: status {status}; not read as a request")
            continue
        if _read_claim(ctx, claim, groups):
            created = parse_date(claim.resource.get("created"))
            if created:
                claim_dates.append(created)
    for order in ctx.index.of_type("ServiceRequest"):
        status = string(order.resource.get("status"))
        if status in SKIPPED_SR_STATUS:
            if _recognise(ctx, order.resource.get("code"), f"{order.path}.code", order):
                ctx.warn(f"{order.name}: status {status}; not read as a current request")
            continue
        if _read_order(ctx, order, groups):
            authored = parse_date(order.resource.get("authoredOn"))
            if authored:
                order_dates.append(authored)
    if claim_dates:
        ctx.request_date = min(claim_dates)
    elif order_dates:
        ctx.request_date = max(order_dates)
    return tuple(
        ProcedureRequest(procedure, tuple(sorted(group.levels)) or None, tuple(group.evidence))
        for procedure, group in groups.items()
    )


def _read_claim(ctx: ReadContext, claim: Entry, groups: dict[Procedure, _Group]) -> bool:
    resource = claim.resource
    # A sequence is a positiveInt; anything else (an object, a list) cannot link a diagnosis.
    diagnoses = {
        d.get("sequence"): (index, d) for index, d in enumerate(objs(resource.get("diagnosis")))
        if isinstance(d.get("sequence"), int | str)
    }
    linked_sequences: set[object] = set()
    ours = False
    for index, item in enumerate(objs(resource.get("item"))):
        path = f"{claim.path}.item[{index}]"
        found = _recognise(ctx, item.get("productOrService"), f"{path}.productOrService", claim)
        if found is None:
            label = concept_text(item.get("productOrService")) or "no code"
            sequence = item.get("sequence", index + 1)
            ctx.other_requests.append(f"{claim.name} item {sequence}: {label}")
            continue
        ours = True
        levels = _levels(ctx, claim, item, path, found)
        levels.update(_requested_service_levels(ctx, claim, item))
        _group(groups, found, levels)
        sequences = item.get("diagnosisSequence")
        linked_sequences.update(
            (s for s in sequences if isinstance(s, int | str)) if isinstance(sequences, list)
            else diagnoses)
    if not ours:
        return False
    for sequence in linked_sequences:
        if sequence not in diagnoses:
            continue
        index, diagnosis = diagnoses[sequence]
        dpath = f"{claim.path}.diagnosis[{index}]"
        if isinstance(diagnosis.get("diagnosisCodeableConcept"), dict):
            ctx.linked_concepts.append(
                LinkedConcept(claim, diagnosis["diagnosisCodeableConcept"],
                              f"{dpath}.diagnosisCodeableConcept"))
        _link_condition(ctx, claim, reference(diagnosis.get("diagnosisReference")))
    return True


def _read_order(ctx: ReadContext, order: Entry, groups: dict[Procedure, _Group]) -> bool:
    resource = order.resource
    found = _recognise(ctx, resource.get("code"), f"{order.path}.code", order)
    if found is None:
        label = concept_text(resource.get("code"))
        if label:
            ctx.other_requests.append(f"{order.name}: {label}")
        return False
    _group(groups, found, _levels(ctx, order, resource, order.path, found))
    for index, concept in enumerate(objs(resource.get("reasonCode"))):
        path = f"{order.path}.reasonCode[{index}]"
        ctx.linked_concepts.append(LinkedConcept(order, concept, path))
    for ref in objs(resource.get("reasonReference")):
        _link_condition(ctx, order, reference(ref))
    return True


def _link_condition(ctx: ReadContext, owner: Entry, ref: str | None) -> None:
    if ref is None:
        return
    target = ctx.index.resolve(ref)
    if target is None:
        ctx.warn(f"{owner.name}: reason {ref} is not in the bundle")
    elif target.type == "Condition":
        ctx.linked_conditions.add(target.name)


def _recognise(ctx: ReadContext, concept: object, path: str, owner: Entry) -> _Found | None:
    """The procedure a code names, else one its words name; None for anything else."""
    for coding in codings(concept, path):
        system = codes.system_of(coding.system)
        if system is None:
            continue
        known = codes.PROCEDURE_CODES.get((system, coding.code.upper()))
        if known is not None:
            quote = coding.display or known.title
            return _Found(known.procedure, Provenance("fhir", owner.name, quote, None, coding.path),
                          known.regions)
    for coding in codings(concept, path):
        if coding.display:
            procedure = codes.procedure_by_words(coding.display)
            if procedure is not None:
                ctx.warn(f"{owner.name}: {coding.system or 'uncoded'} {coding.code} read as "
                         f"{procedure.value} from its display {coding.display!r}")
                return _Found(procedure, Provenance(
                    "fhir", owner.name, coding.display, None, f"{coding.path}.display"), None)
    text = string(concept.get("text")) if isinstance(concept, dict) else None
    if text:
        procedure = codes.procedure_by_words(text)
        if procedure is not None:
            ctx.warn(f"{owner.name}: read as {procedure.value} from its text {text!r}")
            evidence = Provenance("fhir", owner.name, text, None, f"{path}.text")
            return _Found(procedure, evidence, None)
    return None


def _levels(ctx: ReadContext, owner: Entry, node: JsonObj, path: str, found: _Found) -> set[Level]:
    """Levels from bodySite / subSite and the text of the code; checked against the code."""
    levels: set[Level] = set()
    body = node.get("bodySite")
    sites: list[tuple[str, JsonObj]] = []
    if isinstance(body, dict):
        sites.append((f"{path}.bodySite", body))
    else:
        sites += [(f"{path}.bodySite[{i}]", site) for i, site in enumerate(objs(body))]
    sites += [(f"{path}.subSite[{i}]", site) for i, site in enumerate(objs(node.get("subSite")))]
    for site_path, site in sites:
        read = levels_in_text(concept_words(site))
        if read:
            levels.update(read)
            found.provenance = _with_levels(found.provenance, concept_words(site), site_path)
    code_text = concept_words(node.get("productOrService") or node.get("code"))
    levels.update(levels_in_text(code_text))
    if not levels and found.procedure is Procedure.SACROPLASTY:
        levels.add(Level.parse(SACRUM))  # sacral augmentation treats the sacrum
    if found.regions is not None and levels:
        outside = sorted(lv for lv in levels if lv.region not in found.regions)
        if outside:
            ctx.warn(f"{owner.name}: level(s) {', '.join(map(str, outside))} are outside the "
                     f"region(s) of the code ({', '.join(sorted(r.value for r in found.regions))})")
    return levels


def _with_levels(provenance: Provenance, words: str, path: str) -> Provenance:
    quote = f"{provenance.quote}; {words}" if provenance.quote else words
    location = f"{provenance.location}; {path}" if provenance.location else path
    return Provenance(provenance.kind, provenance.source, quote, provenance.span, location)


def _requested_service_levels(ctx: ReadContext, claim: Entry, item: JsonObj) -> set[Level]:
    """Levels from the ServiceRequest a PAS Claim item points to (extension requestedService)."""
    levels: set[Level] = set()
    for extension in objs(item.get("extension")):
        url = string(extension.get("url")) or ""
        if not url.endswith(REQUESTED_SERVICE):
            continue
        ref = reference(extension.get("valueReference"))
        target = ctx.index.resolve(ref)
        if target is None:
            ctx.warn(f"{claim.name}: requested service {ref} is not in the bundle")
            continue
        for site in objs(target.resource.get("bodySite")):
            levels.update(levels_in_text(concept_words(site)))
    return levels


def _group(groups: dict[Procedure, _Group], found: _Found, levels: set[Level]) -> None:
    group = groups.setdefault(found.procedure, _Group())
    group.levels.update(levels)
    if found.provenance not in group.evidence:
        group.evidence.append(found.provenance)
