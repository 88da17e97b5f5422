"""The P4Runtime switch agent (issue 13): a P4Runtime v1 server in Python for one or more devices.

It lives in :mod:`p4` because it serves the programs :mod:`p4.programs`/:mod:`p4.p4info` generate and
accepts the entries :mod:`p4.runtime` writes, and because its dataplane is the DPU running those programs
through :func:`p4.dpu.to_pipeline`: ``p4`` already depends on ``dpu``, and ``dpu`` must not depend on
``p4`` (a ``dpu/agent`` would have to). One responsibility per module:

- :mod:`p4.agent.schema`: a P4Info checked and indexed for the store (ids, widths, match kinds);
- :mod:`p4.agent.store`: the pure state core, no sockets: applies ``p4.v1.Update``\\ s to one device's
  tables, registers and direct counters with P4Runtime's per-update errors, and answers reads;
- :mod:`p4.agent.arbitration`: the pure arbitration core (primary per device and role);
- :mod:`p4.agent.server`: the gRPC layer, which only translates, and the state directory.
"""

#: Where ``fabricctl agent serve`` listens by default: loopback, TCP 9559 (the IANA port of P4Runtime).
DEFAULT_LISTEN = "127.0.0.1:9559"
#: Devices served by default (P4Runtime device ids; finsy and p4runtime-shell default to 1).
DEFAULT_DEVICE_IDS = (1,)
