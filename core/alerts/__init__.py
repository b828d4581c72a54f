"""Drift alerts: severity rules, attribution from the audit log, aggregation per destination, baselines and
the daily summary's data. Plain data flows out of here; ``bot/`` turns it into messages.

Import from the submodules (``core.alerts.rules``, ``core.alerts.aggregate``, ...): this package stays
empty so that ``core.catalog.notify`` and the alert modules can import each other's pieces without cycles.
"""
