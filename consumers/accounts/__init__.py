"""Personal accounts for the people who use the platform: roles, committee memberships,
password hashing, server-side sessions and login rate limits.

The service (:mod:`consumers.accounts.service`) holds the rules; the stores
(:mod:`consumers.accounts.memory`, :mod:`consumers.accounts.sql`) only keep records.
"""
