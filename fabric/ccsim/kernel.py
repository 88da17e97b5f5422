"""The packet-level discrete-event kernel (numba). See :mod:`fabric.ccsim.packet` for the model.

Everything here is typed arrays; :mod:`fabric.ccsim.packet` builds them from a Fabric and flows.
The event list is a binary heap ordered by (time, insertion sequence), so runs are deterministic:
the same inputs and seed give the same event order. Set ``NUMBA_DISABLE_JIT=1`` to run the same
code as pure Python (the benchmark's reference).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# event kinds
EV_START, EV_SEND, EV_TXDONE, EV_ARRIVE, EV_PFC, EV_CNP, EV_ALPHA, EV_RATE, EV_ACK, EV_SAMPLE, EV_LOSS = range(11)
# congestion control
CC_NONE, CC_DCQCN, CC_DCTCP, CC_HPCC = 0, 1, 2, 3
CC_KINDS = {"none": CC_NONE, "dcqcn": CC_DCQCN, "dctcp": CC_DCTCP, "hpcc": CC_HPCC}

#: cfg vector layout
CFG = ("cc", "pfc", "ecn", "g", "alpha_timer_s", "rate_timer_s", "byte_counter_bytes", "fast_recovery_steps",
       "rai_Bps", "rhai_Bps", "min_rate_Bps", "cnp_interval_s", "dctcp_g", "hpcc_eta", "hpcc_max_stage",
       "hpcc_w_ai_bytes", "base_rtt_s", "sample_dt_s", "t_end_s", "seed", "nic_queue_pkts", "mtu_bytes",
       "dyn_alpha", "alpha_first", "max_cut", "mark_dequeue")
CI = {n: i for i, n in enumerate(CFG)}

# stats vector layout
STATS = ("events", "drops", "pause_frames", "headroom_overflows", "overflow", "samples", "delivered_pkts",
         "ecn_marks", "cnps", "end_ps")


@njit(cache=True)
def _push(ht, hx, hi, st, t, kind, a, b, x):
    n = st[0]
    if n >= ht.shape[0]:
        st[2] = 1
        return
    seq = st[1]
    st[1] = seq + 1
    i = n
    while i > 0:
        p = (i - 1) >> 1
        if ht[p] < t or (ht[p] == t and hi[p, 0] < seq):
            break
        ht[i] = ht[p]
        hx[i] = hx[p]
        hi[i, 0] = hi[p, 0]
        hi[i, 1] = hi[p, 1]
        hi[i, 2] = hi[p, 2]
        hi[i, 3] = hi[p, 3]
        i = p
    ht[i] = t
    hx[i] = x
    hi[i, 0] = seq
    hi[i, 1] = kind
    hi[i, 2] = a
    hi[i, 3] = b
    st[0] = n + 1


@njit(cache=True)
def _pop(ht, hx, hi, st, out_i):
    """Remove the earliest event; its (kind, a, b) go to out_i[0:3]; returns (time, x)."""
    t0 = ht[0]
    x0 = hx[0]
    out_i[0] = hi[0, 1]
    out_i[1] = hi[0, 2]
    out_i[2] = hi[0, 3]
    n = st[0] - 1
    st[0] = n
    if n == 0:
        return t0, x0
    lt = ht[n]
    ls = hi[n, 0]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and (ht[c + 1] < ht[c] or (ht[c + 1] == ht[c] and hi[c + 1, 0] < hi[c, 0])):
            c += 1
        if lt < ht[c] or (lt == ht[c] and ls < hi[c, 0]):
            break
        ht[i] = ht[c]
        hx[i] = hx[c]
        hi[i, 0] = hi[c, 0]
        hi[i, 1] = hi[c, 1]
        hi[i, 2] = hi[c, 2]
        hi[i, 3] = hi[c, 3]
        i = c
    ht[i] = lt
    hx[i] = hx[n]
    hi[i, 0] = ls
    hi[i, 1] = hi[n, 1]
    hi[i, 2] = hi[n, 2]
    hi[i, 3] = hi[n, 3]
    return t0, x0


@njit(cache=True)
def _increase(f, rc, rt, bc, tc, F, rai, rhai, line):
    """DCQCN rate increase after a byte-counter or timer event (fast recovery, additive, hyper)."""
    mx = max(bc[f], tc[f])
    mn = min(bc[f], tc[f])
    if mx < F:
        pass                                   # fast recovery: towards the target only
    elif mn >= F:
        rt[f] = rt[f] + (mn - F + 1) * rhai    # hyper increase
    else:
        rt[f] = rt[f] + rai                    # additive increase
    if rt[f] > line[f]:
        rt[f] = line[f]
    rc[f] = 0.5 * (rt[f] + rc[f])
    if rc[f] > line[f]:
        rc[f] = line[f]


@njit(cache=True)
def run_kernel(cfg, dl_src, dl_dst, dl_rate, dl_prop, dl_kmin, dl_kmax, dl_pmax, dl_xoff, dl_xon,
               node_host, node_shared,
               fl_size, fl_start, fl_off, fl_path, fl_rev, fl_line, fl_cls,
               heap_size, max_pkts, out_t, out_q, out_rcv, out_rate, res_flow, res_dl, stats):
    np.random.seed(int(cfg[19]))
    cc = int(cfg[0])
    pfc = cfg[1] > 0.5
    ecn_on = cfg[2] > 0.5
    g = cfg[3]
    alpha_timer = cfg[4]
    rate_timer = cfg[5]
    bc_bytes = cfg[6]
    F = int(cfg[7])
    rai = cfg[8]
    rhai = cfg[9]
    rmin = cfg[10]
    cnp_int = cfg[11]
    dg = cfg[12]
    eta = cfg[13]
    max_stage = int(cfg[14])
    w_ai = cfg[15]
    base_rtt = cfg[16]
    sample_dt = cfg[17]
    t_end = cfg[18]
    nic_q = int(cfg[20])
    mtu = cfg[21]
    dyn = cfg[22]
    alpha_first = cfg[23] > 0.5
    max_cut = cfg[24]
    mark_deq = cfg[25] > 0.5        # ECN-mark at egress dequeue (queue left behind) instead of enqueue
    n_dl = dl_src.shape[0]
    n_fl = fl_size.shape[0]
    n_samples = out_t.shape[0]

    ht = np.empty(heap_size)
    hx = np.empty(heap_size)
    hi = np.empty((heap_size, 4), dtype=np.int64)
    st = np.zeros(3, dtype=np.int64)
    ev = np.zeros(3, dtype=np.int64)

    # packets
    p_flow = np.empty(max_pkts, dtype=np.int64)
    p_bytes = np.empty(max_pkts)
    p_hop = np.empty(max_pkts, dtype=np.int64)
    p_ecn = np.zeros(max_pkts, dtype=np.int64)
    p_u = np.zeros(max_pkts)
    p_in = np.empty(max_pkts, dtype=np.int64)
    p_next = np.empty(max_pkts, dtype=np.int64)
    free = np.arange(max_pkts - 1, -1, -1).astype(np.int64)
    n_free = max_pkts

    # directed links: egress queue, transmitter, PFC
    # queues per (directed link, class): qid = 2 * dl + class; class 0 lossless (PFC), 1 lossy
    n_q = 2 * n_dl
    q_head = np.full(n_q, -1, dtype=np.int64)
    q_tail = np.full(n_q, -1, dtype=np.int64)
    q_bytes = np.zeros(n_q)
    q_len = np.zeros(n_q, dtype=np.int64)
    last_cls = np.zeros(n_dl, dtype=np.int64)
    busy = np.zeros(n_dl, dtype=np.int64)
    svc = np.full(n_dl, -1, dtype=np.int64)
    paused = np.zeros(n_q, dtype=np.int64)         # this link's sender is paused for this class
    paused_since = np.zeros(n_q)
    ingress = np.zeros(n_q)                        # bytes of this class that came in on this link
    pause_sent = np.zeros(n_q, dtype=np.int64)
    pause_level = np.zeros(n_q)
    tx_rate = np.zeros(n_dl)
    tx_last = np.zeros(n_dl)
    sw_used = np.zeros(node_host.shape[0])

    # flows
    sent = np.zeros(n_fl)
    rcv = np.zeros(n_fl)
    lost = np.zeros(n_fl)
    acked = np.zeros(n_fl)
    lostn = np.zeros(n_fl)
    finish = np.full(n_fl, -1.0)
    active = np.zeros(n_fl, dtype=np.int64)
    blocked = np.zeros(n_fl, dtype=np.int64)
    rc = np.zeros(n_fl)
    rt = np.zeros(n_fl)
    alpha = np.ones(n_fl)
    bc = np.zeros(n_fl, dtype=np.int64)
    tc = np.zeros(n_fl, dtype=np.int64)
    bsince = np.zeros(n_fl)
    cnp_seen = np.zeros(n_fl, dtype=np.int64)
    epoch = np.zeros(n_fl, dtype=np.int64)
    last_cnp = np.full(n_fl, -1.0)
    cwnd = np.zeros(n_fl)
    wc = np.zeros(n_fl)
    stage = np.zeros(n_fl, dtype=np.int64)
    last_upd = np.zeros(n_fl)
    win_end = np.zeros(n_fl)
    win_acked = np.zeros(n_fl)
    win_marked = np.zeros(n_fl)
    done = 0

    for f in range(n_fl):
        _push(ht, hx, hi, st, fl_start[f], EV_START, f, 0, 0.0)
    if n_samples > 0:
        _push(ht, hx, hi, st, 0.0, EV_SAMPLE, 0, 0, 0.0)
    n_ev = 0
    s_idx = 0
    t_now = 0.0
    while st[0] > 0:
        t, x = _pop(ht, hx, hi, st, ev)
        if t > t_end:
            t_now = t_end
            break
        t_now = t
        n_ev += 1
        kind = ev[0]
        a = ev[1]
        b = ev[2]
        if kind == EV_ARRIVE:
            p = a
            d = b
            v = dl_dst[d]
            f = p_flow[p]
            nb = p_bytes[p]
            if node_host[v] == 1:
                rcv[f] += nb
                stats[6] += 1
                if finish[f] < 0 and rcv[f] + lost[f] >= fl_size[f] - 1e-9:
                    finish[f] = t
                    done += 1
                if cc == CC_DCQCN:
                    if p_ecn[p] == 1 and (last_cnp[f] < 0 or t - last_cnp[f] >= cnp_int):
                        last_cnp[f] = t
                        stats[8] += 1
                        _push(ht, hx, hi, st, t + fl_rev[f], EV_CNP, f, 0, 0.0)
                elif cc == CC_DCTCP or cc == CC_HPCC:
                    # b carries the ECN bit and the packet's bytes (b = ecn + 2 * bytes); x the INT utilisation
                    _push(ht, hx, hi, st, t + fl_rev[f], EV_ACK, f, p_ecn[p] + 2 * int(nb), p_u[p])
                free[n_free] = p
                n_free += 1
                if done == n_fl:
                    break
                continue
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
                        stats[3] += 1
                elif ingress[iq] + nb >= thr:
                    pause_sent[iq] = 1
                    pause_level[iq] = ingress[iq]
                    res_dl[d, 1] += 1
                    stats[2] += 1
                    _push(ht, hx, hi, st, t + dl_prop[d], EV_PFC, iq, 1, 0.0)
            elif q_bytes[oq] + nb > thr:
                drop = True
            if drop:
                lost[f] += nb
                stats[1] += 1
                res_dl[nd, 3] += 1
                if finish[f] < 0 and rcv[f] + lost[f] >= fl_size[f] - 1e-9:
                    finish[f] = t
                    done += 1
                if cc == CC_DCTCP or cc == CC_HPCC:
                    _push(ht, hx, hi, st, t + fl_rev[f], EV_LOSS, f, 0, nb)
                free[n_free] = p
                n_free += 1
                if done == n_fl:
                    break
                continue
            ingress[iq] += nb
            sw_used[v] += nb
            p_in[p] = d
            if ecn_on and not mark_deq and q_bytes[oq] > dl_kmin[nd]:
                if q_bytes[oq] >= dl_kmax[nd]:
                    pm = 1.0
                else:
                    pm = dl_pmax[nd] * (q_bytes[oq] - dl_kmin[nd]) / (dl_kmax[nd] - dl_kmin[nd])
                if np.random.random() < pm:
                    if p_ecn[p] == 0:
                        stats[7] += 1
                    p_ecn[p] = 1
            if cc == CC_HPCC:
                u = (q_bytes[2 * nd] + q_bytes[2 * nd + 1]) / (dl_rate[nd] * base_rtt) + tx_rate[nd] / dl_rate[nd]
                if u > p_u[p]:
                    p_u[p] = u
            # enqueue
            p_next[p] = -1
            if q_tail[oq] < 0:
                q_head[oq] = p
            else:
                p_next[q_tail[oq]] = p
            q_tail[oq] = p
            q_bytes[oq] += nb
            q_len[oq] += 1
            if q_bytes[2 * nd] + q_bytes[2 * nd + 1] > res_dl[nd, 0]:
                res_dl[nd, 0] = q_bytes[2 * nd] + q_bytes[2 * nd + 1]
            d = nd
            # fall through to start transmission on d below
        elif kind == EV_TXDONE:
            d = a
            p = svc[d]
            svc[d] = -1
            busy[d] = 0
            nb = p_bytes[p]
            res_dl[d, 4] += nb
            if base_rtt > 0:
                tx_rate[d] = tx_rate[d] * math.exp(-(t - tx_last[d]) / base_rtt) + nb / base_rtt
            tx_last[d] = t
            _push(ht, hx, hi, st, t + dl_prop[d], EV_ARRIVE, p, d, 0.0)
        elif kind == EV_SEND:
            f = a
            if active[f] == 0 or sent[f] >= fl_size[f] - 1e-9:
                continue
            d = fl_path[fl_off[f]]
            hq = 2 * d + fl_cls[f]
            if q_len[hq] >= nic_q or n_free == 0:
                _push(ht, hx, hi, st, t + mtu / fl_line[f], EV_SEND, f, 0, 0.0)
                continue
            nb = min(mtu, fl_size[f] - sent[f])
            if cc == CC_DCTCP or cc == CC_HPCC:
                if sent[f] - acked[f] - lostn[f] + nb > cwnd[f] and sent[f] > acked[f] + lostn[f]:
                    blocked[f] = 1
                    continue
            n_free -= 1
            p = free[n_free]
            p_flow[p] = f
            p_bytes[p] = nb
            p_hop[p] = 0
            p_ecn[p] = 0
            p_u[p] = 0.0
            p_in[p] = -1
            p_next[p] = -1
            if q_tail[hq] < 0:
                q_head[hq] = p
            else:
                p_next[q_tail[hq]] = p
            q_tail[hq] = p
            q_bytes[hq] += nb
            q_len[hq] += 1
            sent[f] += nb
            if cc == CC_DCQCN:
                bsince[f] += nb
                if bsince[f] >= bc_bytes:
                    bsince[f] -= bc_bytes
                    bc[f] += 1
                    _increase(f, rc, rt, bc, tc, F, rai, rhai, fl_line)
                rate = rc[f]
            elif cc == CC_HPCC:
                rate = min(fl_line[f], cwnd[f] / base_rtt)
            else:
                rate = fl_line[f]
            if sent[f] < fl_size[f] - 1e-9:
                _push(ht, hx, hi, st, t + nb / rate, EV_SEND, f, 0, 0.0)
        elif kind == EV_PFC:
            qq = a
            d = qq // 2
            if b == 1:
                if paused[qq] == 0:
                    paused[qq] = 1
                    paused_since[qq] = t
                continue
            if paused[qq] == 1:
                paused[qq] = 0
                res_dl[d, 2] += t - paused_since[qq]
        elif kind == EV_START:
            f = a
            active[f] = 1
            rc[f] = fl_line[f]
            rt[f] = fl_line[f]
            alpha[f] = 1.0
            bdp = fl_line[f] * base_rtt
            cwnd[f] = max(bdp, mtu)
            wc[f] = cwnd[f]
            _push(ht, hx, hi, st, t, EV_SEND, f, 0, 0.0)
            if cc == CC_DCQCN:
                _push(ht, hx, hi, st, t + alpha_timer, EV_ALPHA, f, 0, 0.0)
                _push(ht, hx, hi, st, t + rate_timer, EV_RATE, f, 0, 0.0)
            continue
        elif kind == EV_CNP:
            f = a
            rt[f] = rc[f]
            if alpha_first:                  # firmware: alpha already counts this CNP when the rate is cut
                alpha[f] = (1.0 - g) * alpha[f] + g
                rc[f] = max(rmin, rc[f] * (1.0 - min(alpha[f] / 2.0, max_cut)))
            else:                            # DCQCN paper: cut with the old alpha, then update it
                rc[f] = max(rmin, rc[f] * (1.0 - min(alpha[f] / 2.0, max_cut)))
                alpha[f] = (1.0 - g) * alpha[f] + g
            cnp_seen[f] = 1
            bc[f] = 0
            tc[f] = 0
            bsince[f] = 0.0
            epoch[f] += 1
            if finish[f] < 0:
                _push(ht, hx, hi, st, t + rate_timer, EV_RATE, f, epoch[f], 0.0)
            continue
        elif kind == EV_ALPHA:
            f = a
            if cnp_seen[f] == 0:
                alpha[f] = (1.0 - g) * alpha[f]
            cnp_seen[f] = 0
            if finish[f] < 0 and sent[f] < fl_size[f] - 1e-9:
                _push(ht, hx, hi, st, t + alpha_timer, EV_ALPHA, f, 0, 0.0)
            continue
        elif kind == EV_RATE:
            f = a
            if b != epoch[f] or finish[f] >= 0 or sent[f] >= fl_size[f] - 1e-9:
                continue
            tc[f] += 1
            _increase(f, rc, rt, bc, tc, F, rai, rhai, fl_line)
            _push(ht, hx, hi, st, t + rate_timer, EV_RATE, f, epoch[f], 0.0)
            continue
        elif kind == EV_ACK or kind == EV_LOSS:
            f = a
            if kind == EV_LOSS:
                lostn[f] += x
                cwnd[f] = max(mtu, cwnd[f] / 2.0)
                wc[f] = cwnd[f]
            else:
                nb = float(b >> 1)
                b = b & 1
                acked[f] += nb
                if cc == CC_DCTCP:
                    win_acked[f] += nb
                    if b == 1:
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
                else:
                    uu = x
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
            if blocked[f] == 1:
                blocked[f] = 0
                _push(ht, hx, hi, st, t, EV_SEND, f, 0, 0.0)
            continue
        elif kind == EV_SAMPLE:
            if s_idx < n_samples:
                out_t[s_idx] = t
                for j in range(n_dl):
                    out_q[s_idx, j] = q_bytes[2 * j] + q_bytes[2 * j + 1]
                for f in range(n_fl):
                    out_rcv[s_idx, f] = rcv[f]
                    if cc == CC_DCQCN:
                        out_rate[s_idx, f] = rc[f]
                    elif cc == CC_DCTCP or cc == CC_HPCC:
                        out_rate[s_idx, f] = min(fl_line[f], cwnd[f] / base_rtt)
                    else:
                        out_rate[s_idx, f] = fl_line[f]
                s_idx += 1
                if s_idx < n_samples:
                    _push(ht, hx, hi, st, t + sample_dt, EV_SAMPLE, 0, 0, 0.0)
            continue
        else:
            continue
        # ---- try to start a transmission on link d (after ARRIVE enqueue, TXDONE or PFC resume)
        # round robin between the two classes: the one not served last goes first if it can send
        sq = -1
        if busy[d] == 0:
            for k in range(2):
                qq = 2 * d + (last_cls[d] + 1 + k) % 2
                if q_len[qq] > 0 and paused[qq] == 0:
                    sq = qq
                    break
        if sq >= 0:
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
            if ind >= 0 and ecn_on and mark_deq and q_bytes[sq] > dl_kmin[d]:
                if q_bytes[sq] >= dl_kmax[d]:
                    pm = 1.0
                else:
                    pm = dl_pmax[d] * (q_bytes[sq] - dl_kmin[d]) / (dl_kmax[d] - dl_kmin[d])
                if np.random.random() < pm:
                    if p_ecn[p] == 0:
                        stats[7] += 1
                    p_ecn[p] = 1
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
                        _push(ht, hx, hi, st, t + dl_prop[ind], EV_PFC, iq, 0, 0.0)
            _push(ht, hx, hi, st, t + nb / dl_rate[d], EV_TXDONE, d, 0, 0.0)
        if st[2] != 0:
            break
    stats[0] = n_ev
    stats[4] = st[2]
    stats[5] = s_idx
    for qq in range(n_q):
        if paused[qq] == 1:
            res_dl[qq // 2, 2] += t_now - paused_since[qq]
    stats[9] = int(t_now * 1e12)
    for f in range(n_fl):
        res_flow[f, 0] = finish[f]
        res_flow[f, 1] = rcv[f]
        res_flow[f, 2] = lost[f]
        res_flow[f, 3] = sent[f]
