"""Versioned assumptions store (SQLAlchemy 2 + Alembic): SQLite by default, PostgreSQL in production."""
