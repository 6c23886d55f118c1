"""Persistence: SQLAlchemy 2 tables, the case repository and the Alembic migrations.

SQLite by default (a file, no setup), PostgreSQL when `VERTEBRO_DATABASE_URL` names one.
"""
