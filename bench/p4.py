"""Benchmark: P4 programs and every switch's P4Runtime entries for the 8,192-GPU rail-optimised fabric's
plan, and the P4Runtime diff after one leaf-spine link failure next to a full regeneration in the same run.

    python bench/p4.py            # prints one JSON document: figure, baseline, ratio

Targets (issue 12): programs and all switches' entries, written as entries files, in < 5 s; the diff
after one failure in < 50 ms.

What is timed:

- ``generate``: the programs of every role (IR, P4 text when :mod:`p4.gen` is there, P4Info) and, for
  every switch, :func:`p4.runtime.switch_entries` plus :func:`p4.runtime.to_write_requests` (protobuf
  ``WriteRequest``\\ s in memory);
- ``files`` (the figure, what ``p4 gen`` does): the programs, then for every switch its entries, their
  canonical form, the entries file's protobuf JSON straight from it (:func:`p4.runtime.entries_text`,
  no protobufs) and the file (:func:`p4.runtime.write_entries`, in a temporary folder); its baseline,
  in the same run, is the protobuf path: the WriteRequests above, ``MessageToDict`` and
  ``json.dumps(indent=1)`` of them, and the file. The run checks that both wrote the same bytes;
- ``diff``: from the Plan diff the switches that can have changed (:func:`p4.diff.changed_switches`),
  their entries under the new plan (from the old plan's :class:`p4.runtime.FabricView`, derived for
  the new plan: what a controller that applied the old plan holds), and :func:`p4.diff.diff_updates`
  against their old entries; the run checks that these equal a full regeneration's and that every
  other switch's entries did not change;
- ``baseline``: a full regeneration of every switch's entries and WriteRequests for the new plan.

The WCMP planning itself (``WcmpPlanner``, bench/wcmp.py) is excluded: both plans are made first.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# this script is named p4.py: drop its folder from the path so that ``import p4`` finds the package
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

from fabric.builders import rail_optimized
from fabric.plan import Plan
from fabric.traffic import ring_allreduce
from fabric.wcmp import WcmpPlanner

SERVERS, GPUS_PER_SERVER = 1024, 8   # 8,192 GPUs: 256 rail leaves, 32 spines (bench/wcmp.py)
RATE_GBPS = 400.0
FAILED = "su1-rail0--spine1"
REPEAT = 5   # diff runs; the median is the figure, the first is reported too


def _plans() -> tuple[Any, Plan, Plan]:
    fab = rail_optimized(SERVERS, GPUS_PER_SERVER)
    planner = WcmpPlanner(fab, ring_allreduce(fab, fab.nodes("gpu"), RATE_GBPS, seed=1))
    plans = []
    for res in (planner.solve(), planner.fail([FAILED])):
        p = Plan.new(fab)
        p.add(res.section(), fabric=fab)
        plans.append(p)
    return fab, plans[0], plans[1]


def _programs(plan: Plan, roles: list[str]) -> tuple[dict[str, Any], dict[str, int]]:
    from p4.p4info import build_p4info
    from p4.programs import build_program
    from p4.runtime import program_options

    generate: Any = None
    try:
        from p4.gen import generate
    except ImportError:  # p4.gen lands in its own commit
        pass
    opts = program_options(plan)
    progs, chars = {}, {}
    for r in roles:
        progs[r] = build_program(r, opts)
        build_p4info(progs[r])
        chars[r] = len(generate(progs[r])) if generate is not None else 0
    return progs, chars


def _all(fab: Any, plan: Plan, progs: dict[str, Any], encoders: dict[str, Any]) -> tuple[Any, ...]:
    """Every switch's entries, their canonical form (what a controller keeps of the applied state) and
    WriteRequests."""
    from p4.runtime import FabricView, canonical, switch_entries, to_write_requests

    view = FabricView(fab, plan)
    entries, canon, reqs = {}, {}, {}
    for s in fab.nodes(list(progs)):
        r = fab.role(s)
        entries[s] = switch_entries(fab, plan, s, program=progs[r], view=view)
        canon[s] = canonical(progs[r], entries[s])
        reqs[s] = to_write_requests(progs[r], canon[s], encoder=encoders[r])
    return view, entries, canon, reqs


def _files(fab: Any, plan: Plan, progs: dict[str, Any], encoders: dict[str, Any], out: Path) -> int:
    """What ``p4 gen`` does per switch: entries, canonical form, entries file (protobuf JSON from the
    canonical entries). Returns the number of files."""
    from p4.runtime import FabricView, canonical, entries_text, switch_entries, write_entries

    view = FabricView(fab, plan)
    n = 0
    for s in fab.nodes(list(progs)):
        r = fab.role(s)
        can = canonical(progs[r], switch_entries(fab, plan, s, program=progs[r], view=view))
        write_entries(out, s, entries_text(progs[r], can, encoder=encoders[r]))
        n += 1
    return n


def _same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in (a / "entries").iterdir())
    return names == sorted(p.name for p in (b / "entries").iterdir()) and all(
        (a / "entries" / n).read_bytes() == (b / "entries" / n).read_bytes() for n in names)


def main() -> None:
    from p4.diff import changed_switches, diff_updates
    from p4.runtime import Encoder, JsonEncoder, entries_text, requests_json, switch_entries, write_entries

    t0 = time.perf_counter()
    fab, old, new = _plans()
    plan_s = time.perf_counter() - t0
    roles = [r for r in ("leaf", "spine", "superspine", "dci") if fab.nodes(r)]

    t0 = time.perf_counter()
    progs, chars = _programs(old, roles)
    encoders = {r: Encoder(p) for r, p in progs.items()}
    programs_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    old_view, old_entries, old_canon, old_reqs = _all(fab, old, progs, encoders)
    entries_s = time.perf_counter() - t0
    n_updates = sum(len(q.updates) for reqs in old_reqs.values() for q in reqs)

    # the entries files' JSON text alone: from the canonical entries, and by MessageToDict of the messages
    t0 = time.perf_counter()
    jencoders = {r: JsonEncoder(p) for r, p in progs.items()}
    json_encoders_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast_chars = sum(len(entries_text(progs[fab.role(s)], c, encoder=jencoders[fab.role(s)]))
                     for s, c in old_canon.items())
    fast_json_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_json = 0
    for reqs in old_reqs.values():
        dicts = requests_json(reqs)
        n_json += len(dicts)
        json.dumps(dicts, indent=1)
    m2d_json_s = time.perf_counter() - t0

    # end to end, what p4 gen does: programs + every switch's entries file (fresh encoders: cold caches)
    with tempfile.TemporaryDirectory() as tmp:
        fast_dir, m2d_dir = Path(tmp) / "fast", Path(tmp) / "m2d"
        t0 = time.perf_counter()
        progs2, _chars = _programs(old, roles)
        n_files = _files(fab, old, progs2, {r: JsonEncoder(p) for r, p in progs2.items()}, fast_dir)
        files_s = time.perf_counter() - t0
        # the protobuf path: WriteRequests (timed above), MessageToDict + json.dumps, the files
        t0 = time.perf_counter()
        for s, reqs in old_reqs.items():
            write_entries(m2d_dir, s, reqs)
        m2d_files_s = time.perf_counter() - t0
        m2d_total_s = programs_s + entries_s + m2d_files_s
        same_files = _same_files(fast_dir, m2d_dir)

    # baseline: full regeneration for the plan after the failure
    t0 = time.perf_counter()
    _view, new_entries, _canon, _new_reqs = _all(fab, new, progs, encoders)
    full_s = time.perf_counter() - t0

    # the diff: switches the Plan diff names, their new entries, the ordered updates. The controller
    # holds the applied state for long: it is moved out of the collector's way first (gc.freeze), as a
    # long-running service does after loading its state; otherwise a full collection over the ~10^6
    # objects above lands in whichever run comes next (~100 ms).
    gc.collect()
    gc.freeze()

    def warm_diff() -> tuple[set[str], dict[str, list[Any]], dict[str, Any]]:
        touched = changed_switches(fab, old, new)
        assert touched is not None
        view = old_view.derive(new)   # the controller keeps the view of the plan it applied
        updates: dict[str, list[Any]] = {}
        derived: dict[str, Any] = {}
        for s in sorted(touched):
            r = fab.role(s)
            e = switch_entries(fab, new, s, program=progs[r], view=view)
            ups = diff_updates(old_canon[s], e, progs[r], encoder=encoders[r])
            if ups:
                updates[s] = ups
            derived[s] = e
        return touched, updates, derived

    runs = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        touched, updates, derived = warm_diff()
        runs.append(time.perf_counter() - t0)
    diff_s = statistics.median(runs)
    derived_same = all(derived[s] == new_entries[s] for s in derived)
    n_diff = sum(len(u) for u in updates.values())
    # check: every switch the plan diff left out has the same entries after the full regeneration
    untouched_same = all(old_entries[s] == new_entries[s] for s in old_entries if s not in touched)
    kinds: dict[str, int] = {}
    for ups in updates.values():
        for u in ups:
            k = ("INSERT", "MODIFY", "DELETE")[u.type - 1]
            kinds[k] = kinds.get(k, 0) + 1

    gen_s = programs_s + entries_s
    out = {
        "benchmark": "p4",
        "fabric": f"rail_optimized({SERVERS}, {GPUS_PER_SERVER}): {len(fab.nodes('gpu'))} GPUs, "
                  f"{len(fab.nodes('leaf'))} leaves, {len(fab.nodes('spine'))} spines",
        "machine": platform.processor() or platform.machine(),
        "plans_s": round(plan_s, 3), "wcmp_groups": len(old.wcmp.groups) if old.wcmp else 0,
        "programs": {r: {"tables": len(p.tables()), "p4_chars": chars[r]} for r, p in progs.items()},
        "generate": {"switches": len(old_entries), "updates": n_updates, "programs_s": round(programs_s, 4),
                     "entries_and_write_requests_s": round(entries_s, 4),
                     "entries_per_s": round(n_updates / entries_s), "json_write_requests": n_json},
        "json": {"updates": n_updates, "json_encoders_s": round(json_encoders_s, 4),
                 "text_from_canonical_s": round(fast_json_s, 4), "text_chars": fast_chars,
                 "message_to_dict_and_dumps_s": round(m2d_json_s, 4),
                 "us_per_update_fast": round(fast_json_s / n_updates * 1e6, 2),
                 "us_per_update_message_to_dict": round(m2d_json_s / n_updates * 1e6, 2)},
        "files": {"switches": n_files, "programs_entries_and_files_s": round(files_s, 4),
                  "protobuf_path_s": round(m2d_total_s, 4),
                  "protobuf_path_files_s": round(m2d_files_s, 4), "same_bytes": same_files},
        "diff_after_failure": {"failed": FAILED, "switches_from_plan_diff": len(touched),
                               "switches_changed": len(updates), "updates": n_diff, **kinds,
                               "ms": round(diff_s * 1000, 2), "first_run_ms": round(runs[0] * 1000, 2), "untouched_switches_unchanged": untouched_same,
                               "warm_entries_equal_full_regeneration": derived_same},
        "figure": {"generate_all_switches_s": round(gen_s, 4), "gen_files_all_switches_s": round(files_s, 4),
                   "target_generate_s": 5.0,
                   "diff_after_failure_ms": round(diff_s * 1000, 2), "target_diff_ms": 50.0},
        "baseline": {"full_regeneration_s": round(full_s, 4), "full_regeneration_updates": n_updates,
                     "gen_files_protobuf_message_to_dict_s": round(m2d_total_s, 4)},
        "ratio": {"gen_files_speedup_vs_message_to_dict": round(m2d_total_s / files_s, 2),
                  "json_text_speedup_vs_message_to_dict": round(m2d_json_s / fast_json_s, 1),
"diff_speedup_vs_full_regeneration": round(full_s / diff_s, 1),
                  "updates_diff_over_full": round(n_diff / n_updates, 6)},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
