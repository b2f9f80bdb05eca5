#!/usr/bin/env python3
"""Split an imported evaluation stream into a warm-up and a scored part.

Learned baselines (detector/outputs, detector/baseline, detector/risk) are
built online from the stream they judge. In the AgentDojo stream half of the
sessions are attacked, so the injected content is half of what the tools
return and an online baseline learns it as the tools' usual output. A
deployment sees its agents' normal traffic before an attack arrives; this
split measures that setting without fitting anything on labels:

  fold A: the clean runs of the pipelines with an even index (sorted by
          name) are replayed first, a month earlier and unlabelled (not
          scored); every run of the other pipelines follows and is scored.
  fold B: the same with odd and even swapped.

The scored agents (other pipelines) never appear in the warm-up: they borrow
their peer group's baseline (the suite's purpose), as a young agent of a
fleet does. Only the information "this run had no attack" selects warm-up
runs; no threshold or severity is set from them.

usage: warmsplit.py IN_DIR OUT_DIR {A|B} [--cold]
  IN_DIR holds events.jsonl, labels.jsonl, inventory.yaml (tether import
  agentdojo); --cold writes the scored part alone (the same sessions without
  warm-up, for comparison).
"""
import json
import shutil
import sys
from datetime import datetime, timedelta


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    cold = "--cold" in sys.argv
    if len(args) != 3 or args[2] not in ("A", "B"):
        sys.exit(__doc__)
    src, dst, fold = args
    labels = [json.loads(l) for l in open(f"{src}/labels.jsonl")]
    pipes = sorted({l["groups"]["pipeline"] for l in labels})
    warm_pipes = {p for i, p in enumerate(pipes) if (i % 2 == 0) == (fold == "A")}
    warm, scored = set(), []
    for l in labels:
        if l["groups"]["pipeline"] in warm_pipes:
            if not l.get("attacked") and l["label"] == "benign":
                warm.add(l["session_id"])
        else:
            scored.append(l)
    keep = {l["session_id"] for l in scored}
    import os
    os.makedirs(dst, exist_ok=True)
    with open(f"{dst}/labels.jsonl", "w") as f:
        for l in scored:
            f.write(json.dumps(l) + "\n")
    n_warm = n_scored = 0
    with open(f"{src}/events.jsonl") as fin, open(f"{dst}/events.jsonl", "w") as f:
        for line in fin:
            e = json.loads(line)
            s = e.get("gen_ai.conversation.id")
            if s in keep:
                f.write(line)
                n_scored += 1
            elif s in warm and not cold:
                t = datetime.fromisoformat(e["time"].replace("Z", "+00:00")) - timedelta(days=30)
                e["time"] = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                f.write(json.dumps(e) + "\n")
                n_warm += 1
    shutil.copy(f"{src}/inventory.yaml", f"{dst}/inventory.yaml")
    print(f"fold {fold}: warm-up {0 if cold else len(warm)} clean sessions ({n_warm} events) of {len(warm_pipes)} pipelines; "
          f"scored {len(scored)} sessions ({n_scored} events) of {len(pipes) - len(warm_pipes)} pipelines", file=sys.stderr)


if __name__ == "__main__":
    main()
