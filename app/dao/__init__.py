"""Queries. They never commit: the service that calls them owns the transaction.

Verbs: get_ (exactly one, or raise), find_ (zero or more, or None for one),
count_, create_, update_, delete_.
"""
