"""Alembic migrations of vertebro's database (shipped inside the package)."""
