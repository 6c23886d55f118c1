"""Adapters: read and write the world (files, FHIR, text) and return core types."""
