"""Congestion-control simulators that check the parameters of :mod:`fabric.cc`.

- :mod:`fabric.ccsim.fluid`: the DCQCN fluid model (Zhu et al., SIGCOMM 2015) for N flows through one
  bottleneck with delayed feedback, in numba; fast enough to sweep thousands of parameter sets.
- :mod:`fabric.ccsim.packet`: a packet-level discrete-event model of a small two-tier leaf-spine
  (``fabric.builders.clos``) with ECN marking, PFC pause/resume, propagation delay and DCQCN,
  DCTCP-style or HPCC-style senders; its numba kernel is :mod:`fabric.ccsim.kernel` (one handler per
  event kind) over the event list of :mod:`fabric.ccsim.eventheap`.
- :mod:`fabric.ccsim.flows`: the simulated :class:`~fabric.ccsim.flows.Flow` (a NamedTuple) and how a
  ``fabric.traffic.Demand`` becomes flows.
- :mod:`fabric.ccsim.scenarios`: incast, victim flow, ring all-reduce and all-to-all (from the
  ``fabric.traffic`` Demand generators); :mod:`fabric.ccsim.metrics`: FCT slowdown percentiles, Jain's index; :mod:`fabric.ccsim.tune`: ECN/timer auto-tune.
- :mod:`fabric.ccsim.reproduce`: the DCQCN paper's convergence/fairness experiment re-run with the packet
  model next to the paper's fluid model.
"""
