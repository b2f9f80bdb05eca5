#!/usr/bin/env python3
"""River HalfSpaceTrees on a Tether labelled stream, side by side with Tether.

Reads a labelled stream (events.jsonl + labels.jsonl, the format of
bench/eval/README.md, e.g. `tether import agentdojo --out out/agentdojo`),
replays the events in the order `tether eval` uses (time, agent id, step,
input order), and scores every event with River's HalfSpaceTrees behind a
MinMaxScaler, online: score_one before learn_one, so there is no look-ahead.
A session's score is the highest score of its events, as Tether's score is
the highest severity of its findings. AUROC is computed on the same view as
Tether's headline ("hijacked": malicious sessions against benign sessions
that were not attacked; Mann-Whitney, ties count one half).

Features are generic, computed from each event alone plus online counts
(no label, data-set marker or attacker value is used): the event kind
(one-hot), log sizes of arguments, result and content, error flag, step,
seconds since the session's previous event, tool name hashed to 8 bins,
whether the agent has called this tool before, and the number of distinct
tools the session has called.

Throughput (events/s) covers the whole run: reading and parsing the JSON
lines, features, score and learn, on one Python process (one core).

Tether's side: `--tether-json` points at `tether eval --json` output of the
same stream (its hijacked AUROC), and `--tether-seconds` at the wall time of
that `tether eval` run (reading, decoding and judging every event, with
GOMAXPROCS=1); bench/peers/run.sh does both.
"""

import argparse
import json
import math
import sys
import time
import zlib
from datetime import datetime

from river import anomaly, compose, preprocessing

KINDS = ["session_start", "message", "reasoning", "tool_call", "tool_result",
         "session_end", "delegation", "model_call"]
TOOL_BINS = 8


def parse_time(s):
    # RFC 3339 with optional fractional seconds and Z / offset
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    if "." in s:
        head, rest = s.split(".", 1)
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        frac, tz = rest[:i], rest[i:]
        s = head + "." + (frac + "000000")[:6] + tz
    return datetime.fromisoformat(s).timestamp()


def load_events(path):
    evs = []
    with open(path, "rb") as f:
        for i, line in enumerate(f):
            line = line.strip()
            if not line:
                continue
            ev = json.loads(line)
            ev["_t"] = parse_time(ev["time"])
            ev["_i"] = i
            evs.append(ev)
    evs.sort(key=lambda e: (e["_t"], e.get("gen_ai.agent.id", ""), e.get("tether.step", 0), e["_i"]))
    return evs


def load_labels(path):
    labels = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rec = json.loads(line)
                labels[rec["session_id"]] = rec
    return labels


def features(ev, last_time, agent_tools, session_tools):
    x = {}
    kind = ev.get("kind", "")
    for k in KINDS:
        x["kind_" + k] = 1.0 if kind == k else 0.0
    args = ev.get("gen_ai.tool.call.arguments")
    x["log_args"] = math.log1p(len(json.dumps(args)) if args is not None else 0)
    x["log_result"] = math.log1p(len(ev.get("gen_ai.tool.call.result", "")))
    x["log_content"] = math.log1p(len(ev.get("tether.content", "")))
    x["error"] = 1.0 if ev.get("tether.error") else 0.0
    x["log_step"] = math.log1p(ev.get("tether.step", 0))
    sid = ev.get("gen_ai.conversation.id", "")
    prev = last_time.get(sid)
    x["log_gap"] = math.log1p(max(0.0, ev["_t"] - prev)) if prev is not None else 0.0
    last_time[sid] = ev["_t"]
    tool = ev.get("gen_ai.tool.name", "")
    b = zlib.crc32(tool.encode()) % TOOL_BINS if tool else -1
    for i in range(TOOL_BINS):
        x["tool_%d" % i] = 1.0 if i == b else 0.0
    x["tool_new_to_agent"] = 0.0
    if kind == "tool_call" and tool:
        seen = agent_tools.setdefault(ev.get("gen_ai.agent.id", ""), set())
        if tool not in seen:
            x["tool_new_to_agent"] = 1.0
            seen.add(tool)
        session_tools.setdefault(sid, set()).add(tool)
    x["session_tools"] = float(len(session_tools.get(sid, ())))
    if kind == "session_end":
        session_tools.pop(sid, None)
        last_time.pop(sid, None)
    return x


def auroc(pos, neg):
    """Mann-Whitney AUROC, ties one half (as bench/eval)."""
    if not pos or not neg:
        return float("nan")
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    # average ranks over ties
    rank_sum_pos = 0.0
    i = 0
    n = len(allv)
    while i < n:
        j = i
        while j < n and allv[j][0] == allv[i][0]:
            j += 1
        avg = (i + 1 + j) / 2.0
        rank_sum_pos += avg * sum(1 for k in range(i, j) if allv[k][1] == 1)
        i = j
    return (rank_sum_pos - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--tether-json", help="tether eval --json output of the same stream")
    ap.add_argument("--tether-seconds", type=float, help="wall time of that tether eval run")
    ap.add_argument("--trees", type=int, default=10)
    ap.add_argument("--height", type=int, default=8)
    ap.add_argument("--window", type=int, default=250)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args()

    start = time.perf_counter()
    evs = load_events(a.events)
    model = compose.Pipeline(
        preprocessing.MinMaxScaler(),
        anomaly.HalfSpaceTrees(n_trees=a.trees, height=a.height, window_size=a.window, seed=a.seed),
    )
    last_time, agent_tools, session_tools = {}, {}, {}
    score = {}
    for ev in evs:
        x = features(ev, last_time, agent_tools, session_tools)
        s = model.score_one(x)
        model.learn_one(x)
        sid = ev.get("gen_ai.conversation.id", "")
        if s > score.get(sid, -1.0):
            score[sid] = s
    elapsed = time.perf_counter() - start

    labels = load_labels(a.labels)
    pos, neg = [], []
    for sid, l in labels.items():
        if sid not in score:
            continue
        malicious = l.get("label") == "malicious"
        hijacked = l.get("hijacked", malicious)
        attacked = l.get("attacked", malicious)
        if hijacked:
            pos.append(score[sid])
        elif not attacked:
            neg.append(score[sid])
    out = {
        "events": len(evs),
        "positives": len(pos),
        "negatives": len(neg),
        "river": {"model": "HalfSpaceTrees(n_trees=%d, height=%d, window_size=%d)" % (a.trees, a.height, a.window),
                  "seconds": elapsed, "events_per_sec": len(evs) / elapsed, "auroc_hijacked": auroc(pos, neg)},
    }
    if a.tether_json:
        with open(a.tether_json) as f:
            rep = json.load(f)
        t = {"auroc_hijacked": rep["views"]["hijacked"]["auroc"]["value"]
             if isinstance(rep["views"]["hijacked"]["auroc"], dict) else rep["views"]["hijacked"]["auroc"]}
        if a.tether_seconds:
            t["seconds"] = a.tether_seconds
            t["events_per_sec"] = len(evs) / a.tether_seconds
        out["tether"] = t
    r = out["river"]
    print("events %d (hijacked %d, clean %d sessions)" % (out["events"], len(pos), len(neg)))
    print("%-8s %12s %16s" % ("", "events/s", "AUROC hijacked"))
    print("%-8s %12.0f %16.3f" % ("River", r["events_per_sec"], r["auroc_hijacked"]))
    if "tether" in out:
        t = out["tether"]
        eps = t.get("events_per_sec")
        print("%-8s %12s %16.3f" % ("Tether", "%.0f" % eps if eps else "-", t["auroc_hijacked"]))
        if eps:
            out["ratio_events_per_sec"] = eps / r["events_per_sec"]
            print("Tether / River events/s: %.1f" % out["ratio_events_per_sec"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
