"""Scheduled work per tenant: slot arithmetic, exactly-once runs in the catalog, the scheduler and status.

Import the submodules directly; this package stays empty so that ``core.settings`` can use ``slots``.
"""
