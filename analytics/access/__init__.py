"""Who may see what, and the record of who did.

``roles`` (actors, roles and the access checks every view makes), ``audit_trail`` (the
hash-chained access trail behind ``caseload audit-log``), ``keys`` (the data directory's
secret keys and the pseudonyms made with them), ``disclosure`` (what may be shown of a
group: age bands, category folding, small-cell suppression).
"""

__all__ = ["audit_trail", "disclosure", "keys", "roles"]
