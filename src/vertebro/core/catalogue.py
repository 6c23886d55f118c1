"""The catalogue of clinical facts that policies may test, each with the question that settles it.

Fact names are stable identifiers used by policy files, case files, readers and the API.
Add facts here as policies need them; never rename or reuse a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from vertebro.core.facts import FactSpec, FactType

B, C, CS, N, D, LV = (
    FactType.BOOLEAN,
    FactType.CHOICE,
    FactType.CHOICES,
    FactType.NUMBER,
    FactType.DATE,
    FactType.LEVELS,
)


class Procedure(StrEnum):
    """A cement augmentation procedure that can be requested."""

    VERTEBROPLASTY = "vertebroplasty"
    KYPHOPLASTY = "kyphoplasty"
    SACROPLASTY = "sacroplasty"


AETIOLOGIES = ("osteoporotic", "myeloma", "metastasis", "haemangioma", "traumatic", "other")
MDT_ROLES = (
    "radiologist",
    "interventional-radiologist",
    "neuroradiologist",
    "spinal-surgeon",
    "oncologist",
    "medical-oncologist",
    "clinical-oncologist",
    "haematologist",
    "pain-specialist",
    "physician",
    "specialist-nurse",
    "other",
)
# Anticoagulant and antiplatelet medicines by generic name; "other" is one not on the list.
# The patient pathway says which of these has a cited rule; any other is flagged for a clinician.
BLOOD_THINNERS = (
    "warfarin",
    "acenocoumarol",
    "phenindione",
    "apixaban",
    "rivaroxaban",
    "edoxaban",
    "dabigatran",
    "heparin",
    "enoxaparin",
    "dalteparin",
    "tinzaparin",
    "fondaparinux",
    "aspirin",
    "clopidogrel",
    "prasugrel",
    "ticagrelor",
    "dipyridamole",
    "cilostazol",
    "other",
)

_SPECS: tuple[FactSpec, ...] = (
    # The request
    FactSpec("request.procedure", C, "Procedure requested",
             "Which procedure is requested: vertebroplasty, kyphoplasty or sacroplasty?",
             choices=tuple(p.value for p in Procedure)),
    FactSpec("request.levels", LV, "Levels to be treated",
             "Which vertebral levels are to be treated (for example T12-L2)?"),
    FactSpec("request.intravertebral_implant", B, "Intravertebral implant or stent",
             "Will an intravertebral implant or stent (vertebral body stenting) be used?"),
    FactSpec("request.prophylactic", B, "Prophylactic intent",
             "Is the procedure intended to prevent a future fracture rather than treat a painful one?"),
    # The patient and cover
    FactSpec("patient.age", N, "Age", "How old is the patient (years)?", unit="years",
             minimum=0, maximum=130),
    FactSpec("patient.sex", C, "Sex", "What is the patient's sex?",
             choices=("female", "male", "other")),
    FactSpec("coverage.fep", B, "Federal Employee Program member",
             "Is the member covered under the Federal Employee Program (FEP)?"),
    # The fracture or lesion
    FactSpec("fracture.present", B, "Vertebral fracture present",
             "Is there a vertebral fracture at the level to be treated?"),
    FactSpec("fracture.symptomatic", B, "Fracture is symptomatic",
             "Is the fracture or lesion symptomatic (painful)?"),
    FactSpec("fracture.type", C, "Fracture type",
             "What type of fracture is it: compression, burst or other?",
             choices=("compression", "burst", "other")),
    FactSpec("fracture.aetiology", C, "Cause of the fracture or lesion",
             "What caused the fracture or lesion: osteoporosis, myeloma, metastasis, haemangioma, "
             "trauma to normal bone, or something else?",
             choices=AETIOLOGIES),
    FactSpec("fracture.glucocorticoid_induced", B, "Glucocorticoid-induced osteoporosis",
             "Is the osteoporosis glucocorticoid (steroid) induced?"),
    FactSpec("fracture.onset_date", D, "Date of fracture",
             "When did the fracture occur or the pain begin (date)?"),
    FactSpec("fracture.healed", B, "Fracture healed",
             "Has the fracture healed, or is it recent and unhealed (for example marrow oedema on "
             "MRI)?"),
    FactSpec("fracture.unstable", B, "Unstable fracture or spine",
             "Is the vertebral fracture or the spine unstable?"),
    FactSpec("fracture.vertebral_body_collapse", B, "Vertebral body collapse",
             "Is there collapse of the vertebral body?"),
    FactSpec("fracture.retropulsion", B, "Retropulsion",
             "Is there retropulsion of fragments or compromise of the posterior wall or canal?"),
    FactSpec("lesion.osteolytic", B, "Osteolytic lesion",
             "Are the spinal lesions osteolytic?"),
    # Imaging
    FactSpec("imaging.mri_marrow_oedema", B, "MRI shows bone marrow oedema",
             "Does MRI show bone marrow oedema (e.g. STIR hyperintensity) at the fractured level?"),
    FactSpec("imaging.bone_scan_positive", B, "Bone scan confirms the fracture",
             "Does an isotope bone scan confirm the fracture?"),
    FactSpec("imaging.spect_ct_positive", B, "SPECT/CT confirms the fracture",
             "Does SPECT/CT confirm the fracture?"),
    FactSpec("imaging.ct_fracture", B, "CT shows the fracture", "Does CT show the fracture?"),
    FactSpec("imaging.plain_film_fracture", B, "Plain film shows the fracture",
             "Do plain radiographs show the fracture?"),
    # Conservative treatment and pain
    FactSpec("conservative_treatment.modalities", CS, "Conservative treatments given",
             "Which conservative treatments have been given (analgesics, physiotherapy, rest, "
             "bracing)?",
             choices=("analgesics", "physiotherapy", "rest", "bracing", "other")),
    FactSpec("conservative_treatment.duration_weeks", N, "Weeks of conservative treatment",
             "For how many weeks has conservative treatment been given?", unit="weeks",
             minimum=0, maximum=5200),
    FactSpec("conservative_treatment.failed", B, "Conservative treatment failed",
             "Has the pain failed to respond to conservative treatment (optimal pain management)?"),
    FactSpec("hospitalisation.admitted", B, "Admitted to hospital",
             "Has the patient been admitted to hospital because of the fracture?"),
    FactSpec("hospitalisation.for_pain_control", B, "Admitted for pain control",
             "Was the patient admitted to hospital for pain control?"),
    FactSpec("pain.score", N, "Pain score (0-10)", "What is the patient's pain score (0-10)?",
             unit="NRS", minimum=0, maximum=10),
    FactSpec("pain.severe", B, "Severe pain", "Is the pain severe?"),
    FactSpec("pain.prevents_ambulation", B, "Pain prevents walking",
             "Does the pain persist at a level that prevents the patient from walking?"),
    FactSpec("ambulation.status", C, "Walking",
             "How does the patient walk: independently, with aids, or not at all?",
             choices=("independent", "with-aids", "unable")),
    FactSpec("pain.mechanical", B, "Mechanical pain", "Is the pain mechanical in nature?"),
    FactSpec("pain.resistant_to_analgesia", B, "Pain resistant to analgesia",
             "Is the pain resistant to analgesia?"),
    FactSpec("pain.level_confirmed_by_examination", B, "Pain at the fracture level on examination",
             "Has physical examination confirmed that the pain is at the level of the fracture?"),
    FactSpec("pain.level_confirmed_by_imaging", B, "Imaging matches the painful level",
             "Has imaging confirmed the fracture at the level of the pain?"),
    # Safety
    FactSpec("infection.osteomyelitis_at_site", B, "Osteomyelitis at the site",
             "Is there osteomyelitis (or discitis) at the level to be treated?"),
    FactSpec("infection.active", B, "Active infection", "Does the patient have an active infection?"),
    FactSpec("cord_compression.present", B, "Spinal cord compression",
             "Is there spinal cord compression (including metastatic spinal cord compression)?"),
    FactSpec("neurological_deficit.present", B, "Neurological deficit",
             "Is there a new neurological deficit?"),
    # Team and service
    FactSpec("mdt.discussed", B, "Discussed by a multidisciplinary team",
             "Has a specialist multidisciplinary team discussed this patient before the procedure?"),
    FactSpec("mdt.members", CS, "Multidisciplinary team members",
             "Which specialists took part in the multidisciplinary team discussion?",
             choices=MDT_ROLES,
             implies={
                 "interventional-radiologist": ("radiologist",),
                 "neuroradiologist": ("radiologist",),
                 "medical-oncologist": ("oncologist",),
                 "clinical-oncologist": ("oncologist",),
             }),
    FactSpec("mdt.agreed", B, "Specialists agreed the procedure",
             "Did the specialists (multidisciplinary team) agree that the procedure should go ahead?"),
    FactSpec("service.spinal_surgery_access", B, "Access to spinal surgery",
             "Is there good access to a spinal surgery service where the procedure will be done?"),
    FactSpec("service.operator_trained", B, "Trained operator",
             "Has the operator been trained to an appropriate level of expertise in this procedure?"),
    FactSpec("service.governance_arrangements", B, "Consent, audit and governance arrangements",
             "Are normal arrangements in place for consent, audit and clinical governance?"),
    FactSpec("consent.obtained", B, "Consent", "Has the patient given informed consent?"),
    # Preparation for the procedure (the patient pathway)
    FactSpec("medication.blood_thinners", CS, "Blood thinners taken",
             "Which anticoagulant or antiplatelet medicines (blood thinners) does the patient take "
             "(an empty list if none; 'other' for one not on the list)?",
             choices=BLOOD_THINNERS),
    FactSpec("coagulation.inr", N, "INR", "What is the patient's latest INR?", unit="INR",
             minimum=0, maximum=20),
    FactSpec("coagulopathy.present", B, "Uncorrected coagulopathy",
             "Does the patient have a bleeding disorder (coagulopathy) that has not been corrected?"),
    FactSpec("thrombosis.risk_high", B, "High clotting risk",
             "Is the patient's risk of blood clots high enough that a temporary blood thinner may "
             "be needed while their usual one is stopped?"),
    FactSpec("allergy.bone_cement", B, "Allergy to bone cement",
             "Is the patient allergic to bone cement?"),
    FactSpec("allergy.contrast", B, "Allergy to contrast", "Is the patient allergic to contrast?"),
    FactSpec("patient.pregnant", B, "Pregnant", "Is the patient pregnant?"),
    FactSpec("patient.metalwork", B, "Metalwork from previous operations",
             "Does the patient have metalwork from previous operations that makes MRI unsuitable?"),
    FactSpec("patient.pacemaker", B, "Pacemaker", "Does the patient have a pacemaker?"),
    FactSpec("imaging.mri_unsuitable", B, "MRI unsuitable",
             "Is MRI unsuitable for the patient for any other reason?"),
    FactSpec("patient.severe_cardiorespiratory_disease", B, "Severe heart or lung disease",
             "Does the patient have severe heart or lung disease that may make lying face down "
             "difficult?"),
    FactSpec("pain.herniated_disc", B, "Pain from a herniated disc",
             "Is the pain to be treated caused by a herniated (slipped) disc?"),
    FactSpec("pain.arthritic", B, "Arthritic back pain",
             "Is the pain to be treated arthritic back pain?"),
    FactSpec("request.correct_curvature", B, "Intent to correct curvature",
             "Is the procedure intended to correct a curvature of the spine?"),
    FactSpec("request.setting", C, "Outpatient or inpatient",
             "Will the patient have the procedure as an outpatient (going home the same day) or "
             "as an inpatient?",
             choices=("outpatient", "inpatient")),
)

CATALOGUE: Mapping[str, FactSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})


def spec(name: str) -> FactSpec:
    """The definition of a fact.

    Raises:
        KeyError: the name is not in the catalogue, with the message naming it.
    """
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown fact {name!r}") from None
