"""OCS circuit allocation between aggregation blocks: the ``ocs`` Plan section's planner.

Modules, in the order the planner uses them:

- :mod:`optical.ocs.spec`: blocks, their uplinks per OCS, block-demand files (the planner's inputs);
- :mod:`optical.ocs.lp`: the throughput LP (GLOP, column generation), bound and exact evaluation;
- :mod:`optical.ocs.mapping`: integer circuits (CP-SAT rounding) and their per-OCS port mapping;
- :mod:`optical.ocs.route`: flow-deviation evaluation of placed circuits (numba) for large instances;
- :mod:`optical.ocs.planner`: :func:`plan_ocs`, which joins them and fills the Plan section.

Everything a caller needs is importable from here (``from optical.ocs import plan_ocs``).
"""

from optical.ocs.planner import (
    AUTO_LP_MAX_PAIRS,
    DEFAULT_CIRCUIT_GBPS,
    DEFAULT_OCS_PORTS,
    Current,
    OcsResult,
    OcsSpec,
    Pair,
    ThroughputLp,
    circuits_from_plan,
    evaluate_circuits,
    load_block_demand,
    load_blocks,
    logical_from_ports,
    make_spec,
    map_to_ocs,
    plan_ocs,
    port_pairs,
    random_demand,
    sum_per_ocs,
)

__all__ = ["AUTO_LP_MAX_PAIRS", "DEFAULT_CIRCUIT_GBPS", "DEFAULT_OCS_PORTS", "Current", "OcsResult", "OcsSpec",
           "Pair", "ThroughputLp", "circuits_from_plan", "evaluate_circuits", "load_block_demand", "load_blocks",
           "logical_from_ports", "make_spec", "map_to_ocs", "plan_ocs", "port_pairs", "random_demand",
           "sum_per_ocs"]
