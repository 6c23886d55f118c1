"""The pure domain: facts, policies, three-valued evaluation. No I/O, no clock, no framework."""
