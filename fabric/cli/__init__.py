"""The fabricctl command line (Typer + Rich). Commands live in one module per noun; see main.py."""
