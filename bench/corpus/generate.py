"""Generate a development corpus of agent runs from AgentDojo's ground truth.

For every benchmark version the installed `agentdojo` package ships, every
suite, every user task, every injection task and every attack template
(`ATTACKS` below), the scripted `GroundTruthPipeline` replays the calls that
solve the task; no model, no network. Three kinds of run come out:

- clean: the user task's ground-truth calls on the default environment;
- attacked (not hijacked): the same calls on the environment with the
  attack's injections planted in what the tools return: the agent sticks to
  its task;
- hijacked: the user task's calls up to the first tool result that carries
  the injection, then the injection task's ground-truth calls (for the
  denial-of-service templates: the agent stops and answers as told), then
  the rest of the user task.

A task whose prompt, ground truth and environment are the same as in an
earlier version is generated once (the versions are mostly the same tasks).

Each run is one JSON line in the Invariant Explorer export shape that
`tether import agentdojo` reads ({"messages": [...], "metadata": {...}},
the pipeline named by metadata.model); metadata carries suite,
user and injection task ids, attack_type (the template), security (true =
hijacked) and the planted injections, from which the importer derives
`harm_step`. Output is deterministic (sorted iteration, no clocks, ids from
counters).

Usage: generate.py --out FILE.jsonl [--versions v1.2.2,...] [--attacks a,b]
       [--suites banking,...] [--limit-user-tasks N]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
import types
import warnings
from collections.abc import Sequence

warnings.filterwarnings("ignore")

from agentdojo.agent_pipeline.agent_pipeline import load_system_message  # noqa: E402
from agentdojo.agent_pipeline.base_pipeline_element import BasePipelineElement  # noqa: E402
from agentdojo.agent_pipeline.tool_execution import tool_result_to_str  # noqa: E402
from agentdojo.attacks.attack_registry import ATTACKS, load_attack  # noqa: E402
from agentdojo.functions_runtime import FunctionCall, FunctionsRuntime  # noqa: E402
from agentdojo.task_suite import task_suite as _task_suite_module  # noqa: E402
from agentdojo.task_suite.load_suites import _SUITES  # noqa: E402
import yaml  # noqa: E402

# The suites' environments are YAML files parsed for every injected
# environment; libyaml's parser gives the same documents much faster.
if getattr(yaml, "__with_libyaml__", False):
    _yaml_c = types.ModuleType("yaml")
    _yaml_c.__dict__.update(yaml.__dict__)
    _yaml_c.safe_load = lambda s: yaml.load(s, Loader=yaml.CSafeLoader)
    _task_suite_module.yaml = _yaml_c

# The attack templates of the package: the important_instructions family's
# main member, the other prompt-injection baselines, and the DoS family.
ATTACKS_DEFAULT = [
    "important_instructions",
    "tool_knowledge",
    "ignore_previous",
    "system_message",
    "injecagent",
    "direct",
    "dos",
    "swearwords_dos",
    "captcha_dos",
    "offensive_email_dos",
    "felony_dos",
]

# Model names the templates address; one is chosen per attacked run from a
# hash of the run, so that no single model name is shared by every
# injection.
MODELS = [
    "gpt-4o-2024-05-13",
    "claude-3-5-sonnet-20241022",
    "gemini-1.5-pro-002",
    "command-r-plus",
    "meta-llama/Llama-3-70b-chat-hf",
]

# Each model name is one pipeline (agent per suite): its runs address that
# model, and every pipeline has the clean runs of every user task.
PIPELINE_PREFIX = "groundtruth-"


class NamedPipeline(BasePipelineElement):
    """A stand-in target pipeline: attacks only read its name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def query(self, *args, **kwargs):  # pragma: no cover - never run
        raise NotImplementedError


def stable_pick(key: str, options: Sequence[str]) -> str:
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return options[h % len(options)]


def call_json(call: FunctionCall, call_id: str) -> dict:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": call.function, "arguments": json.dumps(dict(call.args), sort_keys=True, default=str)},
    }


class Run:
    """Accumulates the OpenAI-shaped messages of one run."""

    def __init__(self, system: str, prompt: str) -> None:
        self.messages: list[dict] = [
            {"role": "system", "content": system},
            {"role": "user", "content": prompt},
        ]
        self.n = 0

    def call(self, suite, env, call: FunctionCall) -> str:
        self.n += 1
        cid = f"call_{self.n}"
        self.messages.append({"role": "assistant", "content": None, "tool_calls": [call_json(call, cid)]})
        runtime = FunctionsRuntime(suite.tools)
        result, error = runtime.run_function(env, call.function, dict(call.args), raise_on_error=False)
        text = tool_result_to_str(result) if error is None else ""
        self.messages.append(
            {
                "role": "tool",
                "content": text,
                "tool_call_id": cid,
                "tool_call": {"function": call.function, "args": dict(call.args), "id": cid},
                "error": error,
            }
        )
        return text

    def answer(self, text: str) -> None:
        self.messages.append({"role": "assistant", "content": text or "", "tool_calls": None})


def ground_truth(task, env) -> list[FunctionCall]:
    try:
        return list(task.ground_truth(env))
    except Exception as e:  # a task whose ground truth cannot be computed
        print(f"skip {task.ID}: ground truth failed: {e}", file=sys.stderr)
        return []


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--versions", default="all", help="comma-separated benchmark versions, or all")
    ap.add_argument("--attacks", default=",".join(ATTACKS_DEFAULT))
    ap.add_argument("--suites", default="all")
    ap.add_argument("--limit-user-tasks", type=int, default=0, help="at most N user tasks per suite (0: all)")
    args = ap.parse_args()

    versions = sorted(_SUITES) if args.versions == "all" else args.versions.split(",")
    attacks = args.attacks.split(",")
    for a in attacks:
        if a not in ATTACKS:
            ap.error(f"unknown attack {a}; have {sorted(ATTACKS)}")
    system = load_system_message(None)

    attack_cache: dict[tuple, object] = {}
    seen_clean: set[str] = set()
    seen_attack: set[str] = set()
    counts = {"clean": 0, "attacked": 0, "hijacked": 0, "skipped": 0}
    with open(args.out, "w") as out:
        for version in versions:
            for suite_name in sorted(_SUITES[version]):
                if args.suites != "all" and suite_name not in args.suites.split(","):
                    continue
                suite = _SUITES[version][suite_name]
                user_tasks = sorted(suite.user_tasks.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[-1]))
                if args.limit_user_tasks:
                    user_tasks = user_tasks[: args.limit_user_tasks]
                default_env = suite.load_and_inject_default_environment({})
                env_key = hashlib.sha256(default_env.model_dump_json().encode()).hexdigest()[:16]
                for ut_id, ut in user_tasks:
                    gt = ground_truth(ut, suite.load_and_inject_default_environment({}))
                    ukey = f"{suite_name}|{ut_id}|{ut.PROMPT}|{env_key}|{[(c.function, sorted(c.args.items(), key=str)) for c in gt]}"
                    if not gt:
                        counts["skipped"] += 1
                        continue
                    if ukey not in seen_clean:
                        seen_clean.add(ukey)
                        env = suite.load_and_inject_default_environment({})
                        run = Run(system, ut.PROMPT)
                        for c in gt:
                            run.call(suite, env, c)
                        run.answer(ut.GROUND_TRUTH_OUTPUT)
                        for model in MODELS:
                            emit(out, run, model, version, suite_name, ut_id, None, None, False, {})
                            counts["clean"] += 1
                    for attack_name in attacks:
                        inj_tasks = sorted(suite.injection_tasks.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[-1]))
                        for it_id, it in inj_tasks:
                            model = stable_pick(f"{version}|{suite_name}|{ut_id}|{it_id}|{attack_name}", MODELS)
                            ak = (version, suite_name, attack_name, model)
                            if ak not in attack_cache:
                                attack_cache[ak] = load_attack(attack_name, suite, NamedPipeline(model))
                            attack = attack_cache[ak]
                            # Where the injections can go is the same for every attack
                            # (AgentDojo's canary run); compute it once per user task.
                            attack.get_injection_candidates = functools.partial(injection_candidates, suite)
                            if attack.is_dos_attack and it_id != inj_tasks[0][0]:
                                continue  # DoS attacks do not depend on the injection task
                            try:
                                injections = attack.attack(ut, it)
                            except Exception as e:
                                print(f"skip {version}/{suite_name}/{ut_id}/{it_id}/{attack_name}: {e}", file=sys.stderr)
                                counts["skipped"] += 1
                                continue
                            akey = f"{ukey}|{attack_name}|{it_id}|{getattr(it, 'GOAL', '')}|{json.dumps(injections, sort_keys=True)}"
                            if akey in seen_attack:
                                continue
                            seen_attack.add(akey)
                            env = suite.load_and_inject_default_environment(injections)
                            for hijacked in (False, True):
                                run = attacked_run(system, suite, env.model_copy(deep=True), ut, it, injections, hijacked, attack.is_dos_attack)
                                if run is None:
                                    counts["skipped"] += 1
                                    continue
                                emit(out, run, model, version, suite_name, ut_id, it_id, attack_name, hijacked, injections)
                                counts["hijacked" if hijacked else "attacked"] += 1
    print(json.dumps(counts), file=sys.stderr)
    return 0


@functools.lru_cache(maxsize=4096)
def injection_candidates(suite, user_task) -> list[str]:
    """The injection vectors the user task's ground truth shows the agent."""
    vectors = sorted(suite.get_injection_vector_defaults())
    canaries = {v: f"<CANARY---{v}--->" for v in vectors}
    env = suite.load_and_inject_default_environment(canaries)
    runtime = FunctionsRuntime(suite.tools)
    seen = []
    for c in ground_truth(user_task, env.model_copy(deep=True)):
        result, _ = runtime.run_function(env, c.function, dict(c.args), raise_on_error=False)
        text = tool_result_to_str(result)
        seen += [v for v in vectors if canaries[v] in text and v not in seen]
    if not seen:
        raise ValueError(f"{user_task.ID} is not injectable.")
    return sorted(seen)


@functools.lru_cache(maxsize=4096)
def read_index(suite, ut, vectors: tuple[str, ...]) -> int | None:
    """The index of the first user-task call whose result shows one of the
    injection vectors, found as AgentDojo does: with canary values planted."""
    canaries = {v: f"<CANARY---{v}--->" for v in vectors}
    env = suite.load_and_inject_default_environment(canaries)
    runtime = FunctionsRuntime(suite.tools)
    for i, c in enumerate(ground_truth(ut, env.model_copy(deep=True))):
        result, _ = runtime.run_function(env, c.function, dict(c.args), raise_on_error=False)
        text = tool_result_to_str(result)
        if any(x in text for x in canaries.values()):
            return i
    return None


def attacked_run(system, suite, env, ut, it, injections, hijacked, dos) -> Run | None:
    user_calls = ground_truth(ut, env.model_copy(deep=True))
    inj_calls = [] if dos else ground_truth(it, env.model_copy(deep=True))
    if not user_calls or (hijacked and not dos and not inj_calls):
        return None
    at = read_index(suite, ut, tuple(sorted(v for v, t in injections.items() if t))) if hijacked else None
    if hijacked and at is None:
        return None  # the injection never reaches the agent
    run = Run(system, ut.PROMPT)
    for i, c in enumerate(user_calls):
        run.call(suite, env, c)
        if i == at:
            if dos:
                run.answer(dos_answer(list(injections.values())))
                return run
            for ic in inj_calls:
                run.call(suite, env, ic)
    run.answer(ut.GROUND_TRUTH_OUTPUT)
    return run


def dos_answer(texts: list[str]) -> str:
    # The DoS templates ask the agent to stop and reply with a given text.
    for t in texts:
        if "'asdf'" in t:
            return "asdf"
    return "I have stopped working on the task."


def emit(out, run: Run, model, version, suite, ut_id, it_id, attack, hijacked, injections) -> None:
    meta = {
        "suite_name": suite,
        "model": PIPELINE_PREFIX + model.replace("/", "_"),
        "user_task_id": ut_id,
        "injection_task_id": it_id,
        "attack_type": attack,
        "security": bool(hijacked) if it_id else True,
        "success": True,
        "benchmark_version": version,
        "injections": injections if it_id else None,
    }
    out.write(json.dumps({"messages": run.messages, "metadata": meta}, sort_keys=True, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
