"""Export the tool declarations AgentDojo publishes (name, description,
JSON Schema of the arguments) as JSON lines, one per tool and suite, for
the label-coverage measurement of detector/toolcap
(TestAgentDojoDeclaredCoverage reads TOOLCAP_TOOLS=FILE).

Usage: "$(bench/corpus/setup.sh)" bench/toolcap/agentdojo_tools.py > out/agentdojo-tools.jsonl
"""

import json
import sys
import warnings

warnings.filterwarnings("ignore")

from agentdojo.task_suite.load_suites import _SUITES  # noqa: E402


def main() -> None:
    seen = set()
    for version in sorted(_SUITES):
        for suite_name, suite in sorted(_SUITES[version].items()):
            for tool in suite.tools:
                key = (suite_name, tool.name)
                if key in seen:
                    continue
                seen.add(key)
                schema = tool.parameters.model_json_schema()
                json.dump({"suite": suite_name, "name": tool.name, "description": tool.description,
                           "input_schema": schema}, sys.stdout, sort_keys=True)
                sys.stdout.write("\n")


if __name__ == "__main__":
    main()
