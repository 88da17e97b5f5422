"""Load balancing: the ``wcmp`` Plan section's planner (min-MLU LP, integer WCMP groups, ECMP baseline).

Modules, in the order the data flows:

- :mod:`fabric.wcmp.paths`: per-destination loop-free candidate DAGs (:class:`Network`);
- :mod:`fabric.wcmp.lp`: the min-MLU LP per component, its cut bound, hop-by-hop load evaluation;
- :mod:`fabric.wcmp.reduce`: switch limits and the quantisation of real splits to integer weights;
- :mod:`fabric.wcmp.planner`: :class:`WcmpPlanner` (cold solve, warm recompute after failures);
- :mod:`fabric.wcmp.report`: the human table and the utilisation plot.

QP source ports, which are placed on these groups, are :mod:`fabric.qp_ports`.
"""

from fabric.wcmp.planner import (
    DEFAULT_LP_TIME_LIMIT_S,
    Limits,
    SolverInfo,
    WcmpPlanner,
    WcmpResult,
    ecmp_groups,
    fail_fabric,
    reduce_group,
    solve,
)

__all__ = ["DEFAULT_LP_TIME_LIMIT_S", "Limits", "SolverInfo", "WcmpPlanner", "WcmpResult", "ecmp_groups", "fail_fabric", "reduce_group",
           "solve"]
