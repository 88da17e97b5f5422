__path__ = __import__("pkgutil").extend_path(__path__, __name__)
"""P4_16 program generation, P4Info and P4Runtime entries from a Plan.

The first line lets this package share the name ``p4`` with the p4runtime wheels (DESIGN.md):
never create p4/v1 or p4/config here.
"""
