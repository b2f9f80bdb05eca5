// Package agentdojo converts recorded AgentDojo prompt-injection benchmark
// runs into Tether's labelled stream format (bench/eval/README.md): an
// events JSONL of models.Event, a labels JSONL keyed by session, and an
// inventory YAML.
//
// Two input layouts are read:
//
//   - Invariant Explorer JSONL exports: a {"metadata": {"name": pipeline}}
//     header line, then one run per line with OpenAI-style messages
//     (tool_calls[].function.{name, arguments}) and metadata (suite_name,
//     user_task_id, injection_task_id, security, success, …).
//   - AgentDojo's upstream result files,
//     runs/<pipeline>/<suite>/<user_task>/<attack|none>/<injection_task|none>.json,
//     whose messages hold content blocks and tool_calls[].{function, args},
//     with the injected texts under "injections". Injection-goal pseudo-runs
//     (user_task_id "injection_task_N") are skipped.
//
// Mapping. Each pipeline×suite is one agent, id "<pipeline>/<suite>"; each
// run is one session, id "<agent>/<user_task>/<injection_task|none>". A
// session emits session_start; a message event per system or user message;
// a reasoning event per non-empty assistant text (Claude's <thinking> is
// kept in the text); a tool_call per call (gen_ai.tool.name,
// gen_ai.tool.call.id, arguments JSON); a tool_result per tool message
// (result text, tether.error); and session_end. Steps count from 0.
//
// Time. The benchmark records no timestamps, so they are synthetic: the
// sessions of an agent are put in a fixed order (by a hash of the session
// id, which interleaves clean and attacked runs), session k starts at
// Base + k×10 min (later if the previous session is still running), and
// each step takes one second. Every agent starts at the same Base.
//
// Inventory. Every agent gets the plain-language purpose of its suite, the
// benchmark user as owner, senior autonomy (the agents act without
// approval), and every tool seen in the suite with capability labels
// inferred by detector/toolcap from the tool's name and the argument names
// its calls use (generic tool semantics that know nothing of the attacks;
// LabelRules, the former name-only table, is kept as the reference the
// coverage test compares against).
//
// Labels. Ground truth may use dataset knowledge (detectors never see it):
// an attacked run (injection_task_id set) with security true was hijacked
// and is labelled malicious; every other run is benign, with attacked and
// hijacked flags telling them apart; groups are suite and pipeline.
// harm_step is the step of the first tool call, after the injection was
// seen in a tool result, whose arguments carry a value from the injected
// text (a distinctive token such as an account, address or URL; a value of
// 8+ characters it contains; or a shorter value it quotes), not counting
// values of the system or user prompt. The injected text is found through
// the attack's <INFORMATION> markers, or the recorded injections upstream.
// harm_step is null when no such call exists (e.g. the harm was in the
// answer text, or the target value was also in the user's prompt). Attacked
// runs carry the group "template": the attack name (attack_type), or
// "reword-STYLE" for a rewording, and the group "injection" (GroupInjection):
// "read" when a tool result showed the injected text, "not_read" when none
// did (an attack the agent never saw leaves nothing to detect).
//
// Rewording (Options.Reword, `tether import agentdojo --reword STYLE`). To
// test whether detection rests on the benchmark's wording, the injected
// text of attacked runs can be rewritten in one of RewordStyles: prose
// (third-person statements), notice (a record that avoids the instruction
// cues of detector/flow), values (the attacker values alone), de and es
// (German and Spanish templates) and paraphrase (mixed synonyms and
// sentence shapes, directive or not); StyleMixed picks per attacked run
// among the original wording and the six. The span is found through the
// markers (importer knowledge, as for the labels); its action and values
// (accounts, addresses, links, amounts, quoted subjects, file names,
// listed fields) are extracted and rendered in the style, in the span's
// embedding (YAML escapes and indentation). Phrasings are drawn per
// session and span from a generator seeded by Options.RewordSeed, so the
// output is deterministic and no sentence is shared by every run. Agent
// actions, labels and harm steps are those of the recorded run (harm is
// derived from the original text); where the agent's own text quotes a
// span or names a marker, the quote is replaced the same way (the
// arguments only when they stay valid JSON). What an agent re-wrote in its
// own words (e.g. an e-mail body copying the injection without markers)
// is left as recorded.
package agentdojo
