package ocsf

// Classification places a finding kind in the two public taxonomies SIEMs
// and analysts use for agentic AI: the OWASP Top 10 for Agentic
// Applications (2026) category, carried in finding_info.types, and the
// MITRE ATLAS tactic and technique, carried in finding_info.attacks. Kinds
// that are behavioural deviations with no specific adversary technique get
// an OWASP category and no ATLAS entry.
type Classification struct {
	// OWASP is "OWASP ASInn <category>", empty for an unknown kind.
	OWASP string
	// Attacks holds the MITRE ATLAS entries (nil when none applies).
	Attacks []Attack
}

// OWASP Top 10 for Agentic Applications (2026) categories used by Classify.
const (
	OWASPGoalHijack    = "OWASP ASI01 Agent Goal Hijack"
	OWASPToolMisuse    = "OWASP ASI02 Tool Misuse and Exploitation"
	OWASPIdentityAbuse = "OWASP ASI03 Identity and Privilege Abuse"
	OWASPSupplyChain   = "OWASP ASI04 Agentic Supply Chain Vulnerabilities"
	OWASPRogueAgent    = "OWASP ASI10 Rogue Agents"
)

// MITRE ATLAS tactics and techniques used by Classify.
var (
	atlasExecution      = &Technique{UID: "AML.TA0005", Name: "Execution"}
	atlasPrivEsc        = &Technique{UID: "AML.TA0012", Name: "Privilege Escalation"}
	atlasExfiltration   = &Technique{UID: "AML.TA0010", Name: "Exfiltration"}
	atlasInitialAccess  = &Technique{UID: "AML.TA0004", Name: "Initial Access"}
	atlasPromptInject   = &Technique{UID: "AML.T0051", Name: "LLM Prompt Injection"}
	atlasIndirectInject = &Technique{UID: "AML.T0051.001", Name: "Indirect"}
	atlasToolInvocation = &Technique{UID: "AML.T0053", Name: "AI Agent Tool Invocation"}
	atlasToolExfil      = &Technique{UID: "AML.T0086", Name: "Exfiltration via AI Agent Tool Invocation"}
	atlasValidAccounts  = &Technique{UID: "AML.T0012", Name: "Valid Accounts"}
)

// classifications is keyed by finding kind (the detectors' Kind* constants;
// a test checks that every one is listed).
var classifications = map[string]Classification{
	// flow: data reaching tool calls
	"instructed_call":         {OWASPGoalHijack, []Attack{{Tactic: atlasExecution, Technique: atlasPromptInject, SubTechnique: atlasIndirectInject}}},
	"task_abandoned":          {OWASPGoalHijack, []Attack{{Tactic: atlasExecution, Technique: atlasPromptInject, SubTechnique: atlasIndirectInject}}},
	"untrusted_to_sink":       {OWASPToolMisuse, []Attack{{Tactic: atlasExfiltration, Technique: atlasToolExfil}}},
	"private_to_sink":         {OWASPToolMisuse, []Attack{{Tactic: atlasExfiltration, Technique: atlasToolExfil}}},
	"unexplained_destination": {OWASPToolMisuse, []Attack{{Tactic: atlasExfiltration, Technique: atlasToolExfil}}},
	// capability and manifest: composition of permissions, tools outside the declared set
	"toxic_path":                  {OWASPIdentityAbuse, []Attack{{Tactic: atlasPrivEsc, Technique: atlasToolInvocation}}},
	"tool_outside_manifest":       {OWASPToolMisuse, []Attack{{Tactic: atlasExecution, Technique: atlasToolInvocation}}},
	"data_class_outside_manifest": {OWASPToolMisuse, nil},
	// identity
	"unregistered_agent":      {OWASPIdentityAbuse, nil},
	"missing_identity":        {OWASPIdentityAbuse, nil},
	"human_identity":          {OWASPIdentityAbuse, []Attack{{Tactic: atlasInitialAccess, Technique: atlasValidAccounts}}},
	"shared_credential":       {OWASPIdentityAbuse, []Attack{{Tactic: atlasInitialAccess, Technique: atlasValidAccounts}}},
	"expired_credential":      {OWASPIdentityAbuse, []Attack{{Tactic: atlasInitialAccess, Technique: atlasValidAccounts}}},
	"principal_session_ended": {OWASPIdentityAbuse, nil},
	"session_age_exceeded":    {OWASPIdentityAbuse, nil},
	// purpose and behaviour
	"action_beyond_purpose": {OWASPGoalHijack, nil},
	"off_task_action":       {OWASPGoalHijack, nil},
	"semantic_unknown":      {OWASPRogueAgent, nil},
	"rate_spike":            {OWASPRogueAgent, nil},
	"new_tool":              {OWASPRogueAgent, nil},
	"new_destination":       {OWASPRogueAgent, nil},
	"unusual_sequence":      {OWASPRogueAgent, nil},
	"session_outlier":       {OWASPRogueAgent, nil},
	"compound_deviation":    {OWASPRogueAgent, nil},
	"model_change":          {OWASPSupplyChain, nil},
}

// Classify returns the OWASP and MITRE ATLAS classification of a finding
// kind; an unknown kind gets the zero Classification.
func Classify(kind string) Classification { return classifications[kind] }
