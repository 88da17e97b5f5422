"""The packet-level discrete-event kernel (numba). See :mod:`fabric.ccsim.packet` for the model.

Everything here is typed arrays; :mod:`fabric.ccsim.packet` builds them from a Fabric and flows.
The event list (:mod:`fabric.ccsim.eventheap`) is ordered by (time, insertion sequence), so runs are
deterministic: the same inputs and seed give the same event order. :func:`run_kernel` allocates the
state, then pops events and hands each to the handler of its kind (``_on_arrive``, ``_on_send``, ...).
Vectors are read through the named indices below (``cfg[CFG_MTU_BYTES]``, ``stats[ST_DROPS]``),
which numba compiles in as constants. Set ``NUMBA_DISABLE_JIT=1`` to run the same code as pure
Python (the benchmark's reference).

Why the handlers are closures inside :func:`run_kernel` rather than module-level functions: numba
increfs and decrefs every array argument of a call (inlined or not) and cannot prune the pairs in
handlers with branches; passing the ~60 state arrays that way made the kernel 3x slower (measured
with bench/cc.py). Closures read the arrays of the enclosing function directly and numba inlines
them, so the split costs a few percent (see the issue 11 notes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numba import njit

from fabric.ccsim.eventheap import H_LEN, H_OVERFLOW, N_HEAP_COUNTERS, N_HI, pop, push
from fabric.headroom import SWITCH_HOP_US

#: PFC pause/resume frames are made and consumed by the MAC: they take a link's cable delay, not the
#: per-hop forwarding latency that the link's one-way delay ``dl_prop`` also holds (packet.py builds it
#: as cable + SWITCH_HOP_US). SONiC's headroom (fabric.headroom) budgets the cable, mac/phy and the
#: peer's response, not a second pipeline crossing.
PFC_SKIPPED_HOP_S = SWITCH_HOP_US * 1e-6

# event kinds
(EV_START, EV_SEND, EV_TXDONE, EV_ARRIVE, EV_PFC, EV_CNP, EV_ALPHA, EV_RATE, EV_ACK, EV_SAMPLE, EV_LOSS,
 EV_CUT) = range(12)
# congestion control
CC_NONE, CC_DCQCN, CC_DCTCP, CC_HPCC = 0, 1, 2, 3
CC_KINDS = {"none": CC_NONE, "dcqcn": CC_DCQCN, "dctcp": CC_DCTCP, "hpcc": CC_HPCC}

# cfg vector indices; flags are 0.0 / 1.0
(CFG_CC, CFG_PFC, CFG_ECN, CFG_G, CFG_ALPHA_TIMER_S, CFG_RATE_TIMER_S, CFG_BYTE_COUNTER_BYTES,
 CFG_FAST_RECOVERY_STEPS, CFG_RAI_BPS, CFG_RHAI_BPS, CFG_MIN_RATE_BPS, CFG_CNP_INTERVAL_S, CFG_DCTCP_G,
 CFG_HPCC_ETA, CFG_HPCC_MAX_STAGE, CFG_HPCC_W_AI_BYTES, CFG_BASE_RTT_S, CFG_SAMPLE_DT_S, CFG_T_END_S, CFG_SEED,
 CFG_NIC_QUEUE_PKTS, CFG_MTU_BYTES, CFG_DYN_ALPHA, CFG_ALPHA_FIRST, CFG_MAX_CUT, CFG_MARK_DEQUEUE,
 CFG_CLAMP_TGT, CFG_CLAMP_TGT_AFTER_TIME_INC, CFG_RATE_FIRST_CNP_BPS, CFG_INITIAL_ALPHA, CFG_GD_SCALE,
 CFG_RATE_REDUCE_S, CFG_RELEASE_AT_LINE, N_CFG) = range(34)
#: cfg vector layout: entry ``CFG_<NAME>`` is ``name`` (the keys of ``build_network``'s ``params``)
CFG = ("cc", "pfc", "ecn", "g", "alpha_timer_s", "rate_timer_s", "byte_counter_bytes", "fast_recovery_steps",
       "rai_Bps", "rhai_Bps", "min_rate_Bps", "cnp_interval_s", "dctcp_g", "hpcc_eta", "hpcc_max_stage",
       "hpcc_w_ai_bytes", "base_rtt_s", "sample_dt_s", "t_end_s", "seed", "nic_queue_pkts", "mtu_bytes",
       "dyn_alpha", "alpha_first", "max_cut", "mark_dequeue", "clamp_tgt", "clamp_tgt_after_time_inc",
       "rate_first_cnp_Bps", "initial_alpha", "gd_scale", "rate_reduce_s", "release_at_line")
CI = {n: i for i, n in enumerate(CFG)}

# stats vector indices
(ST_EVENTS, ST_DROPS, ST_PAUSE_FRAMES, ST_HEADROOM_OVERFLOWS, ST_OVERFLOW, ST_SAMPLES, ST_DELIVERED_PKTS,
 ST_ECN_MARKS, ST_CNPS, ST_END_PS, N_STATS) = range(11)
#: stats vector layout: entry ``ST_<NAME>`` is ``name``
STATS = ("events", "drops", "pause_frames", "headroom_overflows", "overflow", "samples", "delivered_pkts",
         "ecn_marks", "cnps", "end_ps")

# columns of res_flow (per flow) and res_dl (per directed link)
RF_FINISH_S, RF_RCV_BYTES, RF_LOST_BYTES, RF_SENT_BYTES, N_RF = range(5)
RD_MAX_QUEUE_BYTES, RD_PAUSE_FRAMES, RD_PAUSED_S, RD_DROPS, RD_TX_BYTES, N_RD = range(6)

# counters of the run (``cnt``): free packet buffers, finished flows
C_FREE, C_DONE, N_COUNTERS = range(3)

for _names, _prefix, _n in ((CFG, "CFG_", N_CFG), (STATS, "ST_", N_STATS)):
    assert len(_names) == _n and all(globals()[_prefix + k.upper()] == i for i, k in enumerate(_names))


def cfg_vector(params: Mapping[str, float]) -> np.ndarray:
    """The kernel's cfg vector from ``params`` (a value for every name in :data:`CFG`)."""
    v = np.empty(N_CFG)
    for i, name in enumerate(CFG):
        v[i] = float(params[name])
    return v


# ---------------------------------------------------------------------------------------- the kernel


@njit(cache=True)
def run_kernel(cfg, dl_src, dl_dst, dl_rate, dl_prop, dl_kmin, dl_kmax, dl_pmax, dl_xoff, dl_xon,
               node_host, node_shared,
               fl_size, fl_start, fl_off, fl_path, fl_rev, fl_line, fl_cls,
               heap_size, max_pkts, out_t, out_q, out_rcv, out_rate, res_flow, res_dl, stats):
    np.random.seed(int(cfg[CFG_SEED]))
    cc = int(cfg[CFG_CC])
    pfc = cfg[CFG_PFC] > 0.5
    ecn_on = cfg[CFG_ECN] > 0.5
    g = cfg[CFG_G]
    alpha_timer = cfg[CFG_ALPHA_TIMER_S]
    rate_timer = cfg[CFG_RATE_TIMER_S]
    bc_bytes = cfg[CFG_BYTE_COUNTER_BYTES]
    F = int(cfg[CFG_FAST_RECOVERY_STEPS])
    rai = cfg[CFG_RAI_BPS]
    rhai = cfg[CFG_RHAI_BPS]
    rmin = cfg[CFG_MIN_RATE_BPS]
    cnp_int = cfg[CFG_CNP_INTERVAL_S]
    dg = cfg[CFG_DCTCP_G]
    eta = cfg[CFG_HPCC_ETA]
    max_stage = int(cfg[CFG_HPCC_MAX_STAGE])
    w_ai = cfg[CFG_HPCC_W_AI_BYTES]
    base_rtt = cfg[CFG_BASE_RTT_S]
    sample_dt = cfg[CFG_SAMPLE_DT_S]
    t_end = cfg[CFG_T_END_S]
    nic_q = int(cfg[CFG_NIC_QUEUE_PKTS])
    mtu = cfg[CFG_MTU_BYTES]
    dyn = cfg[CFG_DYN_ALPHA]
    alpha_first = cfg[CFG_ALPHA_FIRST] > 0.5
    max_cut = cfg[CFG_MAX_CUT]
    mark_deq = cfg[CFG_MARK_DEQUEUE] > 0.5     # ECN-mark at egress dequeue (queue left behind) instead of enqueue
    # ConnectX firmware RP knobs (fabric.cc.Profile): target clamping, first-CNP rate and alpha,
    # rpg_gd as the alpha multiplier 2^(10 - rpg_gd), cut coalescing period, limiter release
    clamp_tgt = cfg[CFG_CLAMP_TGT] > 0.5
    clamp_ti = cfg[CFG_CLAMP_TGT_AFTER_TIME_INC] > 0.5
    rate_first = cfg[CFG_RATE_FIRST_CNP_BPS]
    alpha0 = cfg[CFG_INITIAL_ALPHA]
    gd_scale = cfg[CFG_GD_SCALE]
    rr_period = cfg[CFG_RATE_REDUCE_S]
    release = cfg[CFG_RELEASE_AT_LINE] > 0.5
    window_cc = cc == CC_DCTCP or cc == CC_HPCC  # window-based senders (ACK-clocked)
    n_dl = dl_src.shape[0]
    n_fl = fl_size.shape[0]
    n_q = 2 * n_dl                      # queues per (directed link, class): class 0 lossless (PFC), 1 lossy
    # event list (fabric.ccsim.eventheap)
    ht = np.empty(heap_size)
    hx = np.empty(heap_size)
    hi = np.empty((heap_size, N_HI), dtype=np.int64)
    st = np.zeros(N_HEAP_COUNTERS, dtype=np.int64)
    # packet buffers: flow, bytes, hop on the path, ECN bit, INT utilisation, ingress link, next in queue;
    # ``free`` holds the free buffers (cnt[C_FREE] of them)
    p_flow = np.empty(max_pkts, dtype=np.int64)
    p_bytes = np.empty(max_pkts)
    p_hop = np.empty(max_pkts, dtype=np.int64)
    p_ecn = np.zeros(max_pkts, dtype=np.int64)
    p_u = np.zeros(max_pkts)
    p_in = np.empty(max_pkts, dtype=np.int64)
    p_next = np.empty(max_pkts, dtype=np.int64)
    free = np.arange(max_pkts - 1, -1, -1).astype(np.int64)
    # per queue (qid = 2 * directed link + class; class 0 lossless (PFC), 1 lossy): FIFO and PFC state
    q_head = np.full(n_q, -1, dtype=np.int64)
    q_tail = np.full(n_q, -1, dtype=np.int64)
    q_bytes = np.zeros(n_q)
    q_len = np.zeros(n_q, dtype=np.int64)
    paused = np.zeros(n_q, dtype=np.int64)         # this link's sender is paused for this class
    paused_since = np.zeros(n_q)
    ingress = np.zeros(n_q)                        # bytes of this class that came in on this link
    pause_sent = np.zeros(n_q, dtype=np.int64)
    pause_level = np.zeros(n_q)
    # per directed link: transmitter; per node: shared buffer in use
    last_cls = np.zeros(n_dl, dtype=np.int64)
    busy = np.zeros(n_dl, dtype=np.int64)
    svc = np.full(n_dl, -1, dtype=np.int64)
    tx_rate = np.zeros(n_dl)
    tx_last = np.zeros(n_dl)
    sw_used = np.zeros(node_host.shape[0])
    # per flow: progress
    sent = np.zeros(n_fl)
    rcv = np.zeros(n_fl)
    lost = np.zeros(n_fl)
    acked = np.zeros(n_fl)
    lostn = np.zeros(n_fl)
    finish = np.full(n_fl, -1.0)
    active = np.zeros(n_fl, dtype=np.int64)
    blocked = np.zeros(n_fl, dtype=np.int64)
    # per flow: DCQCN reaction point
    rc = np.zeros(n_fl)
    rt = np.zeros(n_fl)
    alpha = np.ones(n_fl)
    bc = np.zeros(n_fl, dtype=np.int64)
    tc = np.zeros(n_fl, dtype=np.int64)
    bsince = np.zeros(n_fl)
    cnp_seen = np.zeros(n_fl, dtype=np.int64)
    epoch = np.zeros(n_fl, dtype=np.int64)
    last_cnp = np.full(n_fl, -1.0)
    limited = np.zeros(n_fl, dtype=np.int64)      # 1 once a CNP came, 0 again after a release at line rate
    last_cut = np.full(n_fl, -1.0)
    cut_pending = np.zeros(n_fl, dtype=np.int64)  # a coalesced cut is scheduled (EV_CUT)
    alpha_run = np.zeros(n_fl, dtype=np.int64)    # the alpha timer is running
    # per flow: window senders (DCTCP, HPCC)
    cwnd = np.zeros(n_fl)
    wc = np.zeros(n_fl)
    stage = np.zeros(n_fl, dtype=np.int64)
    last_upd = np.zeros(n_fl)
    win_end = np.zeros(n_fl)
    win_acked = np.zeros(n_fl)
    win_marked = np.zeros(n_fl)
    cnt = np.zeros(N_COUNTERS, dtype=np.int64)
    cnt[C_FREE] = max_pkts

    # ---- helpers: closures over the state above (numba inlines them; see the module docstring)

    def _schedule(t, kind, a, b, x):
        push(ht, hx, hi, st, t, kind, a, b, x)

    def _check_finished(f, t):
        """A flow is finished once every byte is delivered or lost."""
        if finish[f] < 0 and rcv[f] + lost[f] >= fl_size[f] - 1e-9:
            finish[f] = t
            cnt[C_DONE] += 1

    def _free_packet(p):
        free[cnt[C_FREE]] = p
        cnt[C_FREE] += 1

    def _enqueue(p, q, nb):
        p_next[p] = -1
        if q_tail[q] < 0:
            q_head[q] = p
        else:
            p_next[q_tail[q]] = p
        q_tail[q] = p
        q_bytes[q] += nb
        q_len[q] += 1

    def _red_mark(p, qb, kmin, kmax, pmax):
        """RED: mark packet p with probability 0 below kmin (checked by the caller), linear to pmax at kmax, 1 above."""
        if qb >= kmax:
            pm = 1.0
        else:
            pm = pmax * (qb - kmin) / (kmax - kmin)
        if np.random.random() < pm:
            if p_ecn[p] == 0:
                stats[ST_ECN_MARKS] += 1
            p_ecn[p] = 1

    def _dcqcn_increase(f):
        """DCQCN rate increase after a byte-counter or timer event (fast recovery, additive, hyper)."""
        mx = max(bc[f], tc[f])
        mn = min(bc[f], tc[f])
        if mx < F:
            pass                                   # fast recovery: towards the target only
        elif mn >= F:
            rt[f] = rt[f] + (mn - F + 1) * rhai    # hyper increase
        else:
            rt[f] = rt[f] + rai                    # additive increase
        if rt[f] > fl_line[f]:
            rt[f] = fl_line[f]
        rc[f] = 0.5 * (rt[f] + rc[f])
        if rc[f] > fl_line[f]:
            rc[f] = fl_line[f]
        if release and rc[f] >= fl_line[f] * (1.0 - 1e-9) and rt[f] >= fl_line[f] * (1.0 - 1e-9):
            limited[f] = 0                         # back at line rate: the rate limiter is released


    # ---- event handlers

    def _deliver(p, f, t):
        """EV_ARRIVE at a host: count the bytes, send the congestion feedback (CNP or ACK), free the buffer."""
        nb = p_bytes[p]
        rcv[f] += nb
        stats[ST_DELIVERED_PKTS] += 1
        _check_finished(f, t)
        if cc == CC_DCQCN:
            if p_ecn[p] == 1 and (last_cnp[f] < 0 or t - last_cnp[f] >= cnp_int):
                last_cnp[f] = t
                stats[ST_CNPS] += 1
                _schedule(t + fl_rev[f], EV_CNP, f, 0, 0.0)
        elif cc == CC_DCTCP or cc == CC_HPCC:
            # b carries the ECN bit and the packet's bytes (b = ecn + 2 * bytes); x the INT utilisation
            _schedule(t + fl_rev[f], EV_ACK, f, p_ecn[p] + 2 * int(nb), p_u[p])
        _free_packet(p)

    def _drop(p, f, nd, t):
        """A switch drops packet p bound for directed link nd (lossy class, or beyond the PFC headroom)."""
        nb = p_bytes[p]
        lost[f] += nb
        stats[ST_DROPS] += 1
        res_dl[nd, RD_DROPS] += 1
        _check_finished(f, t)
        if window_cc:
            _schedule(t + fl_rev[f], EV_LOSS, f, 0, nb)
        _free_packet(p)

    def _forward(p, d, v, f, t):
        """EV_ARRIVE at switch v over directed link d: PFC ingress accounting, admit or drop, ECN/INT, queue on
        the next link of the path. Returns that link (-1: dropped)."""
        nb = p_bytes[p]
        hop = p_hop[p] + 1
        p_hop[p] = hop
        nd = fl_path[fl_off[f] + hop]
        c = fl_cls[f]
        iq = 2 * d + c
        oq = 2 * nd + c
        drop = False
        thr = dyn * (node_shared[v] - sw_used[v])
        if pfc and c == 0:
            if pause_sent[iq] == 1:
                if ingress[iq] + nb > pause_level[iq] + dl_xoff[d]:
                    drop = True
                    stats[ST_HEADROOM_OVERFLOWS] += 1
            elif ingress[iq] + nb >= thr:
                pause_sent[iq] = 1
                pause_level[iq] = ingress[iq]
                res_dl[d, RD_PAUSE_FRAMES] += 1
                stats[ST_PAUSE_FRAMES] += 1
                _schedule(t + dl_prop[d] - PFC_SKIPPED_HOP_S, EV_PFC, iq, 1, 0.0)
        elif q_bytes[oq] + nb > thr:
            drop = True
        if drop:
            _drop(p, f, nd, t)
            return -1
        ingress[iq] += nb
        sw_used[v] += nb
        p_in[p] = d
        if ecn_on and not mark_deq and q_bytes[oq] > dl_kmin[nd]:
            _red_mark(p, q_bytes[oq], dl_kmin[nd], dl_kmax[nd], dl_pmax[nd])
        if cc == CC_HPCC:
            u = ((q_bytes[2 * nd] + q_bytes[2 * nd + 1]) / (dl_rate[nd] * base_rtt)
                 + tx_rate[nd] / dl_rate[nd])
            if u > p_u[p]:
                p_u[p] = u
        _enqueue(p, oq, nb)
        if q_bytes[2 * nd] + q_bytes[2 * nd + 1] > res_dl[nd, RD_MAX_QUEUE_BYTES]:
            res_dl[nd, RD_MAX_QUEUE_BYTES] = q_bytes[2 * nd] + q_bytes[2 * nd + 1]
        return nd

    def _on_arrive(p, d, t):
        """EV_ARRIVE (a = packet, b = directed link): returns the link to start transmitting on (-1: none)."""
        v = dl_dst[d]
        f = p_flow[p]
        if node_host[v] == 1:
            _deliver(p, f, t)
            return -1
        return _forward(p, d, v, f, t)

    def _on_txdone(d, t):
        """EV_TXDONE (a = directed link): the packet in service is on the wire; returns d (free to send again)."""
        p = svc[d]
        svc[d] = -1
        busy[d] = 0
        nb = p_bytes[p]
        res_dl[d, RD_TX_BYTES] += nb
        if base_rtt > 0:
            tx_rate[d] = tx_rate[d] * math.exp(-(t - tx_last[d]) / base_rtt) + nb / base_rtt
        tx_last[d] = t
        _schedule(t + dl_prop[d], EV_ARRIVE, p, d, 0.0)
        return d

    def _on_send(f, t):
        """EV_SEND (a = flow): the NIC puts flow f's next packet in its host queue and paces the one after;
        returns the host link to start transmitting on (-1: nothing queued)."""
        if active[f] == 0 or sent[f] >= fl_size[f] - 1e-9:
            return -1
        d = fl_path[fl_off[f]]
        hq = 2 * d + fl_cls[f]
        if q_len[hq] >= nic_q or cnt[C_FREE] == 0:
            _schedule(t + mtu / fl_line[f], EV_SEND, f, 0, 0.0)
            return -1
        nb = min(mtu, fl_size[f] - sent[f])
        if window_cc:
            if sent[f] - acked[f] - lostn[f] + nb > cwnd[f] and sent[f] > acked[f] + lostn[f]:
                blocked[f] = 1
                return -1
        cnt[C_FREE] -= 1
        p = free[cnt[C_FREE]]
        p_flow[p] = f
        p_bytes[p] = nb
        p_hop[p] = 0
        p_ecn[p] = 0
        p_u[p] = 0.0
        p_in[p] = -1
        _enqueue(p, hq, nb)
        sent[f] += nb
        if cc == CC_DCQCN:
            bsince[f] += nb
            if bsince[f] >= bc_bytes:
                bsince[f] -= bc_bytes
                bc[f] += 1
                _dcqcn_increase(f)
            rate = rc[f]
        elif cc == CC_HPCC:
            rate = min(fl_line[f], cwnd[f] / base_rtt)
        else:
            rate = fl_line[f]
        if sent[f] < fl_size[f] - 1e-9:
            _schedule(t + nb / rate, EV_SEND, f, 0, 0.0)
        return d

    def _on_pfc(qq, b, t):
        """EV_PFC (a = queue, b = 1 pause / 0 resume) reaches the sender of the queue's link; returns the link
        to start transmitting on after a resume (-1 after a pause)."""
        if b == 1:
            if paused[qq] == 0:
                paused[qq] = 1
                paused_since[qq] = t
            return -1
        if paused[qq] == 1:
            paused[qq] = 0
            res_dl[qq // 2, RD_PAUSED_S] += t - paused_since[qq]
        return qq // 2

    def _on_start(f, t):
        """EV_START (a = flow): line rate, initial window of one BDP; the DCQCN rate timer starts (alpha
        is set, and its timer started, by the first CNP)."""
        active[f] = 1
        rc[f] = fl_line[f]
        rt[f] = fl_line[f]
        alpha[f] = 1.0
        bdp = fl_line[f] * base_rtt
        cwnd[f] = max(bdp, mtu)
        wc[f] = cwnd[f]
        _schedule(t, EV_SEND, f, 0, 0.0)
        if cc == CC_DCQCN:
            _schedule(t + rate_timer, EV_RATE, f, 0, 0.0)

    def _restart_increase(f, t):
        """After a cut: the rate-increase stages restart (a new timer epoch)."""
        cnp_seen[f] = 1
        bc[f] = 0
        tc[f] = 0
        bsince[f] = 0.0
        epoch[f] += 1
        last_cut[f] = t
        if finish[f] < 0:
            _schedule(t + rate_timer, EV_RATE, f, epoch[f], 0.0)

    def _cut(f, t):
        """One DCQCN rate cut. The target becomes the current rate if clamp_tgt_rate is set, or the rate
        was raised since the last cut by the byte counter, or by the timer with
        clamp_tgt_rate_after_time_inc; otherwise it keeps the rate from before the cuts."""
        if clamp_tgt or bc[f] > 0 or (clamp_ti and tc[f] > 0):
            rt[f] = rc[f]
        rc[f] = max(rmin, rc[f] * (1.0 - min(alpha[f] * gd_scale, max_cut)))
        if not alpha_first:               # DCQCN paper: cut with the old alpha, then update it
            alpha[f] = (1.0 - g) * alpha[f] + g
        _restart_increase(f, t)

    def _on_cnp(f, t):
        """EV_CNP (a = flow): the first CNP of a rate-limited episode sets alpha (initial_alpha_value), starts
        the alpha timer and sets rate_to_set_on_first_cnp when given, else cuts; later CNPs cut at most
        once per rate_reduce_monitor_period (those in between coalesce into one cut at its end)."""
        first = limited[f] == 0
        if first:
            limited[f] = 1
            alpha[f] = alpha0
            if alpha_run[f] == 0:
                alpha_run[f] = 1
                _schedule(t + alpha_timer, EV_ALPHA, f, 0, 0.0)
            if rate_first > 0.0:
                rc[f] = min(rate_first, fl_line[f])
                rt[f] = rc[f]
                _restart_increase(f, t)
                return
        elif alpha_first:                 # firmware: alpha already counts this CNP when the rate is cut
            alpha[f] = (1.0 - g) * alpha[f] + g
        cnp_seen[f] = 1
        if first or t - last_cut[f] >= rr_period * (1.0 - 1e-9):
            _cut(f, t)
        elif cut_pending[f] == 0:
            cut_pending[f] = 1
            _schedule(last_cut[f] + rr_period, EV_CUT, f, 0, 0.0)

    def _on_cut(f, t):
        """EV_CUT (a = flow): the coalesced cut of the CNPs that came within one rate-reduce period."""
        cut_pending[f] = 0
        if finish[f] < 0 and limited[f] == 1:
            _cut(f, t)

    def _on_alpha(f, t):
        """EV_ALPHA (a = flow): DCQCN alpha decays when no CNP came in the last period; the timer stops when
        the flow is done or its rate limiter is released."""
        if cnp_seen[f] == 0:
            alpha[f] = (1.0 - g) * alpha[f]
        cnp_seen[f] = 0
        if limited[f] == 1 and finish[f] < 0 and sent[f] < fl_size[f] - 1e-9:
            _schedule(t + alpha_timer, EV_ALPHA, f, 0, 0.0)
        else:
            alpha_run[f] = 0

    def _on_rate(f, timer_epoch, t):
        """EV_RATE (a = flow, b = timer epoch): DCQCN timer increase, unless a CNP restarted the timer since."""
        if timer_epoch != epoch[f] or finish[f] >= 0 or sent[f] >= fl_size[f] - 1e-9:
            return
        tc[f] += 1
        _dcqcn_increase(f)
        _schedule(t + rate_timer, EV_RATE, f, epoch[f], 0.0)

    def _unblock(f, t):
        """A window sender blocked on its window sends again once an ACK or loss report frees room."""
        if blocked[f] == 1:
            blocked[f] = 0
            _schedule(t, EV_SEND, f, 0, 0.0)

    def _dctcp_ack(f, nb, ecn):
        """DCTCP: per-ACK window growth, alpha and one cut per window of data."""
        win_acked[f] += nb
        if ecn == 1:
            win_marked[f] += nb
        else:
            cwnd[f] += mtu * nb / cwnd[f]
        if acked[f] >= win_end[f]:
            frac = win_marked[f] / win_acked[f] if win_acked[f] > 0 else 0.0
            alpha[f] = (1.0 - dg) * alpha[f] + dg * frac
            if win_marked[f] > 0:
                cwnd[f] = max(mtu, cwnd[f] * (1.0 - alpha[f] / 2.0))
            win_end[f] = sent[f]
            win_acked[f] = 0.0
            win_marked[f] = 0.0
        cap = fl_line[f] * base_rtt * 4.0
        if cwnd[f] > cap:
            cwnd[f] = cap

    def _hpcc_ack(f, uu):
        """HPCC: window from the path's INT utilisation ``uu`` (multiplicative towards eta, additive w_ai)."""
        init = max(fl_line[f] * base_rtt, mtu)
        if uu >= eta or stage[f] >= max_stage:
            w = wc[f] / (max(uu, 1e-9) / eta) + w_ai
            upd = acked[f] > last_upd[f]
            if upd:
                stage[f] = 0
        else:
            w = wc[f] + w_ai
            upd = acked[f] > last_upd[f]
            if upd:
                stage[f] += 1
        w = min(max(w, mtu), init)
        cwnd[f] = w
        if upd:
            wc[f] = w
            last_upd[f] = sent[f]

    def _on_ack(f, b, x, t):
        """EV_ACK (a = flow, b = ECN bit + 2 * bytes, x = INT utilisation) at a window sender."""
        nb = float(b >> 1)
        acked[f] += nb
        if cc == CC_DCTCP:
            _dctcp_ack(f, nb, b & 1)
        else:
            _hpcc_ack(f, x)
        _unblock(f, t)

    def _on_loss(f, nb, t):
        """EV_LOSS (a = flow, x = bytes): a window sender learns of a drop and halves its window."""
        lostn[f] += nb
        cwnd[f] = max(mtu, cwnd[f] / 2.0)
        wc[f] = cwnd[f]
        _unblock(f, t)

    def _on_sample(s_idx, t):
        """EV_SAMPLE: record queues, received bytes and sender rates; returns the next sample's index."""
        n_samples = out_t.shape[0]
        if s_idx >= n_samples:
            return s_idx
        out_t[s_idx] = t
        for j in range(out_q.shape[1]):
            out_q[s_idx, j] = q_bytes[2 * j] + q_bytes[2 * j + 1]
        for f in range(out_rcv.shape[1]):
            out_rcv[s_idx, f] = rcv[f]
            if cc == CC_DCQCN:
                out_rate[s_idx, f] = rc[f]
            elif cc == CC_DCTCP or cc == CC_HPCC:
                out_rate[s_idx, f] = min(fl_line[f], cwnd[f] / base_rtt)
            else:
                out_rate[s_idx, f] = fl_line[f]
        s_idx += 1
        if s_idx < n_samples:
            _schedule(t + sample_dt, EV_SAMPLE, 0, 0, 0.0)
        return s_idx

    def _try_transmit(d, t):
        """Start a transmission on link d if it is idle (after an enqueue, a TXDONE or a PFC resume): round robin
        between the two classes, the one not served last first if it can send; ECN at dequeue; the
        ingress buffer it leaves is released, which may send a PFC resume upstream."""
        sq = -1
        if busy[d] == 0:
            for k in range(2):
                qq = 2 * d + (last_cls[d] + 1 + k) % 2
                if q_len[qq] > 0 and paused[qq] == 0:
                    sq = qq
                    break
        if sq < 0:
            return
        last_cls[d] = sq % 2
        p = q_head[sq]
        q_head[sq] = p_next[p]
        if q_head[sq] < 0:
            q_tail[sq] = -1
        q_len[sq] -= 1
        nb = p_bytes[p]
        q_bytes[sq] -= nb
        busy[d] = 1
        svc[d] = p
        ind = p_in[p]
        if (ind >= 0 and ecn_on and mark_deq
                and q_bytes[sq] > dl_kmin[d]):
            _red_mark(p, q_bytes[sq], dl_kmin[d], dl_kmax[d], dl_pmax[d])
        if ind >= 0:
            v = dl_dst[ind]
            iq = 2 * ind + sq % 2
            ingress[iq] -= nb
            sw_used[v] -= nb
            p_in[p] = -1
            if pause_sent[iq] == 1:
                thr = dyn * (node_shared[v] - sw_used[v])
                if ingress[iq] + dl_xon[ind] <= thr or ingress[iq] <= 0.0:
                    pause_sent[iq] = 0
                    _schedule(t + dl_prop[ind] - PFC_SKIPPED_HOP_S, EV_PFC, iq, 0, 0.0)
        _schedule(t + nb / dl_rate[d], EV_TXDONE, d, 0, 0.0)


    for f in range(n_fl):
        _schedule(fl_start[f], EV_START, f, 0, 0.0)
    if out_t.shape[0] > 0:
        _schedule(0.0, EV_SAMPLE, 0, 0, 0.0)
    n_ev = 0
    s_idx = 0
    t_now = 0.0
    while st[H_LEN] > 0:
        t, x, kind, a, b = pop(ht, hx, hi, st)
        if t > t_end:
            t_now = t_end
            break
        t_now = t
        n_ev += 1
        d = -1                          # a link to start transmitting on, when the event freed or fed one
        if kind == EV_ARRIVE:
            d = _on_arrive(a, b, t)
            if d < 0 and cnt[C_DONE] == n_fl:     # delivered or dropped: was it the last flow's last byte?
                break
        elif kind == EV_TXDONE:
            d = _on_txdone(a, t)
        elif kind == EV_SEND:
            d = _on_send(a, t)
        elif kind == EV_PFC:
            d = _on_pfc(a, b, t)
        elif kind == EV_START:
            _on_start(a, t)
        elif kind == EV_CNP:
            _on_cnp(a, t)
        elif kind == EV_ALPHA:
            _on_alpha(a, t)
        elif kind == EV_RATE:
            _on_rate(a, b, t)
        elif kind == EV_CUT:
            _on_cut(a, t)
        elif kind == EV_ACK:
            _on_ack(a, b, x, t)
        elif kind == EV_LOSS:
            _on_loss(a, x, t)
        elif kind == EV_SAMPLE:
            s_idx = _on_sample(s_idx, t)
        if d >= 0:
            _try_transmit(d, t)
            if st[H_OVERFLOW] != 0:
                break
    stats[ST_EVENTS] = n_ev
    stats[ST_OVERFLOW] = st[H_OVERFLOW]
    stats[ST_SAMPLES] = s_idx
    for qq in range(n_q):
        if paused[qq] == 1:
            res_dl[qq // 2, RD_PAUSED_S] += t_now - paused_since[qq]
    stats[ST_END_PS] = int(t_now * 1e12)
    for f in range(n_fl):
        res_flow[f, RF_FINISH_S] = finish[f]
        res_flow[f, RF_RCV_BYTES] = rcv[f]
        res_flow[f, RF_LOST_BYTES] = lost[f]
        res_flow[f, RF_SENT_BYTES] = sent[f]
