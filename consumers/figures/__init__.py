"""Figures read from the case store for the command center and the year-end report: SQLAlchemy
Core selects over ``consumers.tables``, returning codes and counts, never personal data."""
