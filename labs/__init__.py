"""Labs: Mininet-style labs in Linux network namespaces."""
