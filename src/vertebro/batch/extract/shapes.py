"""What the batch parses of each resource type, and how it reads that JSON as the per-case
reader reads it: a lone object where FHIR has an array is an array of one, and a concept
stays JSON text for the reader's own functions (`as_read`, `concept_value`)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from vertebro.batch.dialect import Dialect, JsonShape, SqlType

S, F, INT = SqlType.STRING, SqlType.DOUBLE, SqlType.BIGINT
# A CodeableConcept (or a Coding) is kept as its JSON text: only the lookups read it, with the
# reader's own functions, so it means what it means to the reader however it is written (a
# lone `"coding": {...}`, a bare Coding, a number for a code). `concept_value` parses it.
CONCEPT: JsonShape = S
CODING: JsonShape = S


def concept_value(value: object) -> object:
    """A concept as the lookups take it, from the JSON text the engine gives (a string's value
    comes unquoted, and stays a string)."""
    if not isinstance(value, str):
        return value
    try:
        parsed: object = json.loads(value)
    except ValueError:
        return value
    return parsed


REF: dict[str, JsonShape] = {"reference": S}
PERIOD: dict[str, JsonShape] = {"start": S, "end": S}
# A resource contained in a medicine's request or statement, as '#id' references read it.
CONTAINED_MEDICATION: dict[str, JsonShape] = {"id": S, "code": CONCEPT}

# The elements each resource type is read for.
SCHEMAS: Mapping[str, Mapping[str, JsonShape]] = {
    "Patient": {"id": S, "gender": S, "birthDate": S},
    "Claim": {
        "id": S,
        "status": S,
        "use": S,
        "patient": REF,
        "created": S,
        "item": [
            {
                "sequence": INT,
                "productOrService": CONCEPT,
                # one concept in R4; the reader takes a list too (requests._levels)
                "bodySite": [CONCEPT],
                "subSite": [CONCEPT],
                "diagnosisSequence": [INT],
                "extension": [{"url": S, "valueReference": REF}],
            }
        ],
        "diagnosis": [
            {"sequence": INT, "diagnosisCodeableConcept": CONCEPT, "diagnosisReference": REF}
        ],
    },
    "ServiceRequest": {
        "id": S,
        "status": S,
        "subject": REF,
        "code": CONCEPT,
        "bodySite": [CONCEPT],
        "authoredOn": S,
        "reasonCode": [CONCEPT],
        "reasonReference": [REF],
    },
    "Condition": {
        "id": S,
        "subject": REF,
        "code": CONCEPT,
        "clinicalStatus": CONCEPT,
        "verificationStatus": CONCEPT,
        "onsetDateTime": S,
        "onsetPeriod": PERIOD,
        "recordedDate": S,
        "bodySite": [CONCEPT],
    },
    "Observation": {
        "id": S,
        "status": S,
        "subject": REF,
        "code": CONCEPT,
        "effectiveDateTime": S,
        "effectivePeriod": PERIOD,
        "issued": S,
        "valueQuantity": {"value": F},
        "valueInteger": INT,
    },
    "Encounter": {
        "id": S,
        "status": S,
        "subject": REF,
        "class": CODING,
        "period": PERIOD,
        "reasonCode": [CONCEPT],
        "reasonReference": [REF],
        "diagnosis": [{"condition": REF, "use": CONCEPT}],
    },
    "MedicationRequest": {
        "id": S,
        "status": S,
        "intent": S,
        "subject": REF,
        "medicationCodeableConcept": CONCEPT,
        "medicationReference": REF,
        "contained": [CONTAINED_MEDICATION],
        "authoredOn": S,
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": PERIOD}}}],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": INT,
            "expectedSupplyDuration": {"value": F, "unit": S, "code": S},
        },
    },
    "MedicationStatement": {
        "id": S,
        "status": S,
        "subject": REF,
        "medicationCodeableConcept": CONCEPT,
        "medicationReference": REF,
        "contained": [CONTAINED_MEDICATION],
        "effectivePeriod": PERIOD,
        "effectiveDateTime": S,
    },
    "Medication": {"id": S, "code": CONCEPT},
    "Procedure": {
        "id": S,
        "status": S,
        "subject": REF,
        "code": CONCEPT,
        "performedPeriod": PERIOD,
        "performedDateTime": S,
    },
}


def _tolerant(shape: JsonShape) -> bool:
    """Whether an array of this shape is read as the reader reads arrays of objects, a lone
    object counting as an array of one (`elements.objs`): arrays of objects and of concepts
    (kept as text) are; arrays of numbers (Claim.item.diagnosisSequence) are not, since the
    reader takes only a real array there."""
    return isinstance(shape, list) and not (isinstance(shape[0], SqlType) and shape[0] is not S)


def _parsed(shape: JsonShape) -> JsonShape:
    """The shape the engines parse for `shape`: each tolerant array as its JSON text (made
    into the array by `as_read`)."""
    if isinstance(shape, SqlType):
        return shape
    if isinstance(shape, list):
        return S if _tolerant(shape) else shape
    return {key: _parsed(value) for key, value in shape.items()}


# The shape each resource type is parsed with (by the engine's JSON reader), then made into
# the shape of SCHEMAS by `as_read`.
PARSED_SCHEMAS: Mapping[str, Mapping[str, JsonShape]] = {
    rtype: {key: _parsed(value) for key, value in shape.items()} for rtype, shape in SCHEMAS.items()
}


def _strict(shape: JsonShape) -> JsonShape:
    """The shape the strict reading parses for a top-level element: a tolerant array as an
    array (of elements in their parsed shape), the rest as `_parsed` gives it."""
    if isinstance(shape, list) and _tolerant(shape):
        return [_parsed(shape[0])]
    return _parsed(shape)


# The shape each resource type is parsed with when its file is read strictly: the arrays of
# the resource itself as arrays, as FHIR R4 writes them (an export that does not is read again
# with `PARSED_SCHEMAS`); arrays within their elements still as text. Only the types for which
# it differs from `PARSED_SCHEMAS` (for the others the strict reading would only repeat it).
STRICT_SCHEMAS: Mapping[str, Mapping[str, JsonShape]] = {
    rtype: strict
    for rtype, shape in SCHEMAS.items()
    if (strict := {key: _strict(value) for key, value in shape.items()}) != PARSED_SCHEMAS[rtype]
}


def as_read_strict(d: Dialect, expr: str, rtype: str) -> str:
    """`as_read` for a resource parsed with `STRICT_SCHEMAS`: its own arrays are arrays
    already, so only the arrays within their elements are read as the reader reads them."""
    fields = {}
    for key, shape in SCHEMAS[rtype].items():
        value = d.field(expr, key)
        if isinstance(shape, list):
            element = shape[0]
            if _tolerant(shape) and _parsed(element) != element:
                value = d.transform(value, "e1", _read_as(d, "e1", element, 2))
        else:
            value = _read_as(d, value, shape, 1)
        fields[key] = value
    return f"CASE WHEN {expr} IS NULL THEN NULL ELSE {d.struct(fields)} END"


def as_read(d: Dialect, expr: str, rtype: str) -> str:
    """A resource of `rtype` parsed with `PARSED_SCHEMAS` (`expr`, a column: it is named
    several times) in the shape of `SCHEMAS`, every array given as a lone object made an array
    of one as the reader reads it. One pass over the parsed rows, in the statement that parses
    them; resources whose arrays are arrays (nearly all) come out as the typed parse gave them.
    """
    return _read_as(d, expr, SCHEMAS[rtype], 1)


def _read_as(d: Dialect, expr: str, shape: JsonShape, depth: int) -> str:
    if isinstance(shape, SqlType) or _parsed(shape) == shape:
        return expr
    if isinstance(shape, list):
        element = shape[0]

        def parsed(text: str) -> str:
            """The array in `text`, a JSON object {"v": [...]}, when it is valid JSON (the
            engines give a string's value unquoted: it may be any text)."""
            return d.field(f"({d.parse_json_or_null(text, {'v': [_parsed(element)]})})", "v")

        array = parsed(f"concat('{{\"v\":', {expr}, '}}')")
        if element is S:  # concepts, kept as text: a lone one is the text itself
            lone = d.string_array([expr])
        else:
            lone = parsed(f"concat('{{\"v\":[', {expr}, ']}}')")
        items = f"CASE WHEN {expr} LIKE '{{%' THEN {lone} WHEN {expr} LIKE '[%' THEN {array} END"
        if _parsed(element) == element:
            return items
        var = f"e{depth}"
        return d.transform(items, var, _read_as(d, var, element, depth + 1))
    fields = {key: _read_as(d, d.field(expr, key), value, depth) for key, value in shape.items()}
    return f"CASE WHEN {expr} IS NULL THEN NULL ELSE {d.struct(fields)} END"


# Resource types whose text goes to the note reader (read whole, not through a schema), and
# the types kept whole: those and the Binaries their attachments may name.
TEXT_TYPES = ("DocumentReference", "DiagnosticReport", "Composition")
TEXT_KEPT = (*TEXT_TYPES, "Binary")
SUBJECT = {"Claim": "patient"}  # the element naming the patient, where it is not `subject`
# In a bundle, the resources read only when they are about the patient the request is for
# (context.about_patient; the requests are read whoever they name).
ABOUT_PATIENT = (
    "Condition",
    "Encounter",
    "MedicationRequest",
    "MedicationStatement",
    "Observation",
    "Procedure",
    *TEXT_TYPES,
)
