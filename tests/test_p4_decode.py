"""p4.decode: what a switch returns on Read -> canonical entries, the inverse of p4.wire.Encoder.

The oracle is the agent's own store (p4/agent/store.py, which checks every update as P4Runtime does
and canonicalises bytestrings): the generated entries of every switch of the example plan are written
into it, read back with wildcard reads, decoded, and must equal the canonical entries they came from.
"""

from __future__ import annotations

import pytest
from finsy.proto import p4r

from fabric.io import load_fabric
from fabric.plan import Plan
from p4.agent.schema import Schema
from p4.agent.store import Store
from p4.decode import DecodeError, Decoder
from p4.diff import diff_canonical
from p4.p4info import build_p4info
from p4.programs import build_program
from p4.runtime import Encoder, all_switch_entries, canonical, program_options


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    from typer.testing import CliRunner

    from fabric.cli.main import app

    d = tmp_path_factory.mktemp("decode")
    for args in (["plan", "wcmp", "example", "--plan", d / "p.json", "--out", d, "--no-png", "--json"],
                 ["plan", "cc", "example", "--plan", d / "p.json"]):
        r = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
    fab, plan = load_fabric("example"), Plan.load(d / "p.json")
    opts = program_options(plan)
    roles = {fab.role(s) for s in fab.nodes(("leaf", "spine", "dci"))}
    programs = {r: build_program(r, opts) for r in roles}
    return fab, plan, programs, all_switch_entries(fab, plan, programs)


def _store_with(program, can):
    store = Store(Schema.of(build_p4info(program)))
    enc = Encoder(program)
    ups = [enc.update("MODIFY" if k[0] == "r" else "INSERT", k, v) for k, v in can.flat().items()]
    assert store.write(ups) == [None] * len(ups)
    return store


def _read_back(store):
    blobs = store.read_all([p4r.Entity(table_entry={}), p4r.Entity(register_entry={})])
    return [p4r.Entity.FromString(b) for b in blobs]


def test_every_switch_reads_back_as_the_canonical_entries_it_was_written_from(example):
    fab, _plan, programs, entries = example
    checked = 0
    for sw, e in entries.items():
        prog = programs[fab.role(sw)]
        want = canonical(prog, e)
        got = Decoder(prog).canonical(_read_back(_store_with(prog, want)))
        assert got.levels == want.levels, sw
        assert diff_canonical(got, want) == []
        checked += len(want)
    assert checked > 100      # the example plan is not trivially small


def test_a_foreign_entry_is_a_delete_and_a_changed_weight_one_modify(example):
    fab, _plan, programs, entries = example
    sw = next(s for s, e in entries.items() if e.groups)
    prog = programs[fab.role(sw)]
    want = canonical(prog, entries[sw])
    store = _store_with(prog, want)
    # a route nobody planned, written by someone else
    route_key = next(iter(want.levels["route"]))
    foreign_key = ("t", route_key[1], (("ipv4_dst", "lpm", 0x0A630000, 16),), 0)
    foreign_val = next(iter(want.levels["route"].values()))
    assert store.write([Encoder(prog).update("INSERT", foreign_key, foreign_val)]) == [None]
    got = Decoder(prog).canonical(_read_back(store))
    assert diff_canonical(got, want) == [("DELETE", foreign_key, None)]
    # re-weight one group: the plan now wants other weights -> exactly one MODIFY of that group
    gkey, gval = next(iter(want.levels["group"].items()))
    heavier = ("s", tuple((a, p, w + 1) for a, p, w in gval[1]))
    want2 = type(want)({lv: dict(d) for lv, d in want.levels.items()})
    want2.levels["group"][gkey] = heavier
    changes = diff_canonical(Decoder(prog).canonical(_read_back(_store_with(prog, want))), want2)
    assert changes == [("MODIFY", gkey, heavier)]


def test_zero_padded_bytes_and_unmasked_ternary_bits_decode_canonically():
    prog = build_program("leaf")
    enc, dec = Encoder(prog), Decoder(prog)
    key = ("t", prog.ingress.fq("nexthop_table"), (("nexthop_id", "exact", 7, None),), 0)
    val = ("a", prog.ingress.fq("set_nexthop"), (3, 0x0200000000AA, 0x0200000000A1))
    ent = enc.entity(key, val)
    ent.table_entry.match[0].exact.value = b"\x00\x00" + ent.table_entry.match[0].exact.value
    ent.table_entry.action.action.params[0].value = b"\x00" + ent.table_entry.action.action.params[0].value
    assert dec.entry(ent) == (key, val)


def test_entities_the_program_cannot_have_are_refused():
    prog = build_program("leaf")
    dec = Decoder(prog)
    with pytest.raises(DecodeError, match="unknown table id"):
        dec.entry(p4r.Entity(table_entry=p4r.TableEntry(table_id=0x02FFFFFF)))
    key = ("t", prog.ingress.fq("nexthop_table"), (("nexthop_id", "exact", 7, None),), 0)
    val = ("a", prog.ingress.fq("set_nexthop"), (3, 1, 2))
    ent = Encoder(prog).entity(key, val)
    ent.table_entry.action.action.action_id = 0x01FFFFFF
    with pytest.raises(DecodeError, match="unknown action id"):
        dec.entry(ent)
    # counters and registers at their reset value are not entries
    assert dec.entry(p4r.Entity(direct_counter_entry={})) is None
