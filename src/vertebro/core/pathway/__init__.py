"""The patient pathway: safety and suitability checks, a dated personal plan and consent figures.

Pure functions over a `Pathway` (loaded from cited data) and a `FactSet`; dates are arguments.
"""
