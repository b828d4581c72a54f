"""The emulated tenant directory: objects, relationships and Graph semantics behind ``Tenant.handle``."""

from .tenant import DirectoryOptions, Tenant

__all__ = ["DirectoryOptions", "Tenant"]
