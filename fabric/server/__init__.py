"""The controller service (issue 14): it holds the fabric's desired state, pushes it to the switch
agents over P4Runtime and reroutes on failures.

- :mod:`fabric.server.reconcile`: the pure core, ``(desired, observed, event, now) -> actions``; no
  clock, socket, file or thread inside (faucet's Valve is the model): the service does the I/O.
"""
