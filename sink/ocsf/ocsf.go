// Package ocsf maps Tether's findings to the Open Cybersecurity Schema
// Framework (OCSF 1.8.0) so that SIEMs receive them in a standard schema,
// and publishes them to a Kafka topic (Publisher).
//
// Every models.Finding becomes one Detection Finding event (class_uid 2004,
// category_uid 2 "Findings", activity_id 1 "Create", type_uid 200401).
// metadata.profiles declares every profile whose attributes are used:
// "host" (actor), "security_control" (risk, confidence, alert, disposition)
// and "incident" (priority).
//
//	OCSF attribute                       Tether source
//	time                                 Finding.Time (epoch ms; event time of the triggering event)
//	timezone_offset                      0 (times are UTC)
//	severity_id / severity               Finding.Severity banded: <30 Informational (1), <50 Low (2),
//	                                     <70 Medium (3), <90 High (4), ≥90 Critical (5)
//	risk_score                           Finding.Severity, the raw 0–100 score
//	risk_level_id / risk_level           the same bands: Info (0), Low, Medium, High, Critical (4)
//	priority_id / priority               triage priority from the bands: Informational and Low → Low (1),
//	                                     Medium (2), High (3), Critical (4)
//	is_alert                             Severity ≥ models.AlertThreshold and not suppressed
//	status_id / status, status_detail    1 "New", "created by <detector>"; 3 "Suppressed",
//	                                     "suppressed by exception <id>" when Finding.Exception is set
//	action_id / action                   3 "Observed": Tether does not block; containment is a separate
//	                                     command on the control topic
//	disposition_id / disposition         15 "Detected"
//	confidence_score                     round(Finding.Confidence × 100), clamped to 0–100
//	confidence_id / confidence           <0.4 Low (1), <0.7 Medium (2), else High (3)
//	message                              Finding.Explanation
//	finding_info.uid                     Finding.ID (deterministic)
//	finding_info.title                   "<detector>/<kind>"
//	finding_info.desc                    Finding.Explanation
//	finding_info.types                   [Finding.Kind, OWASP Top 10 for Agentic Applications category]
//	finding_info.attacks                 MITRE ATLAS tactic / technique / sub-technique (Classify)
//	finding_info.created_time,           Finding.Time
//	  first_seen_time, last_seen_time
//	finding_info.analytic                {name "<detector>/<kind>", uid Finding.RuleID, version
//	                                     Finding.RulesetVersion; type_id 2 "Behavioral"} (name and uid
//	                                     are the detector when the finding has no rule id)
//	finding_info.data_sources            ["tether.events"]
//	finding_info.related_events[].uid    Finding.EvidenceIDs (Tether event ids)
//	evidences[]                          one per evidence event: uid (event id), name "tether.event",
//	                                     actor (the agent and session that produced the event)
//	actor.app_uid, actor.app_name        Finding.AgentID: the AI agent is the acting application
//	actor.session.uid                    Finding.SessionID
//	actor.user.name, actor.user.uid      Finding.Principal (the human or service the agent acts
//	                                     for; omitted when empty)
//	resources[]                          the agent (role Target, type "AI Agent") and, when it differs,
//	                                     the root agent of its delegation tree (role Related)
//	observables                          actor.user.name (type_id 4 "User Name"); resources[].uid
//	                                     (type_id 10 "Resource UID"); actor.session.uid as type_id 99
//	                                     "Other" with type "Session ID"
//	metadata.product                     {name "Tether", vendor_name "Tether", uid "tether",
//	                                     version: Options.ProductVersion}
//	metadata.version, profiles           "1.8.0" (SchemaVersion), Profiles
//	metadata.log_name                    Options.LogName (the topic)
//	metadata.original_time               Finding.Time as RFC 3339
//	metadata.correlation_uid             Finding.SessionID (correlates one session's findings)
//	metadata.uid                         Finding.ID, so a SIEM can de-duplicate replays
//	unmapped.tether                      root_agent_id, step, detector, kind, subject (what tells
//	                                     apart findings of one kind on the same evidence), severity,
//	                                     confidence, features (observed, baseline, spread)
//
// Why the agent is the actor's application: OCSF has no first-class "AI
// agent" entity. actor.app_name/app_uid are "the client application or
// service that initiated the activity … in conjunction with the user", which
// is what an agent acting for a principal is; actor.session is the session it
// acted in. OCSF 1.8.0's ai_operation profile (ai_model, message_context)
// applies to the API, Datastore and Process Activity classes only, not to
// Detection Finding, so it is not declared, and a finding does not carry
// the model (models.Finding has none).
//
// Output is deterministic: the same finding always encodes to the same bytes
// (no wall-clock fields, struct field order, no maps). Non-finite feature
// values are encoded as strings ("NaN", "+Inf", "-Inf") because JSON has no
// encoding for them.
package ocsf

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/tetherhq/tether/models"
)

// OCSF identifiers of the Detection Finding class as emitted by Map.
const (
	// SchemaVersion is the OCSF version the events conform to (metadata.version).
	SchemaVersion = "1.8.0"
	// CategoryUID is the Findings category.
	CategoryUID = 2
	// ClassUID is the Detection Finding class.
	ClassUID = 2004
	// ActivityCreate is the "Create" activity: a finding was created.
	ActivityCreate = 1
	// TypeUID is ClassUID*100 + ActivityCreate.
	TypeUID = ClassUID*100 + ActivityCreate
	// StatusNew is the finding status "New" (not yet reviewed).
	StatusNew = 1
	// StatusSuppressed is the finding status "Suppressed": an operator's
	// exception (detector/rules) matched the finding.
	StatusSuppressed = 3
	// ActionObserved is the action_id "Observed": Tether reports, it does not block.
	ActionObserved = 3
	// DispositionDetected is the disposition_id "Detected".
	DispositionDetected = 15
	// AnalyticBehavioral is the analytic type_id "Behavioral".
	AnalyticBehavioral = 2
	// ResourceRoleTarget and ResourceRoleRelated are resource_details role_id values.
	ResourceRoleTarget  = 1
	ResourceRoleRelated = 4
	// ProductName and VendorName fill metadata.product; ProductUID is its uid.
	ProductName = "Tether"
	VendorName  = "Tether"
	ProductUID  = "tether"
	// DataSource names Tether's event stream in finding_info.data_sources.
	DataSource = "tether.events"
	// ResourceTypeAgent is the resources[].type of an AI agent.
	ResourceTypeAgent = "AI Agent"
)

// Profiles lists the OCSF profiles whose attributes Map uses, declared in
// metadata.profiles: host (actor), security_control (risk, confidence,
// is_alert, action, disposition) and incident (priority).
var Profiles = []string{"host", "security_control", "incident"}

// OCSF severity_id values.
const (
	SeverityInformational = 1
	SeverityLow           = 2
	SeverityMedium        = 3
	SeverityHigh          = 4
	SeverityCritical      = 5
)

// Observable type_id values used by Map.
const (
	ObservableUserName    = 4
	ObservableResourceUID = 10
	ObservableOther       = 99
)

// Options are the deployment-specific parts of the mapping.
type Options struct {
	// ProductVersion fills metadata.product.version (omitted when empty).
	ProductVersion string
	// LogName fills metadata.log_name: the topic the event is published on.
	LogName string
}

// DefaultOptions returns the build's version (BuildVersion) and DefaultTopic.
func DefaultOptions() Options {
	return Options{ProductVersion: BuildVersion(), LogName: DefaultTopic}
}

// BuildVersion is the version of the running binary: the main module's
// version when built from a tagged module, otherwise "devel" followed by
// the VCS revision when the build recorded one.
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			r := s.Value
			if len(r) > 12 {
				r = r[:12]
			}
			return "devel+" + r
		}
	}
	return "devel"
}

// DetectionFinding is the OCSF 1.8.0 Detection Finding event that Map
// produces. Only the attributes Tether fills are declared; required ones are
// never omitted.
type DetectionFinding struct {
	ActivityID      int          `json:"activity_id"`
	ActivityName    string       `json:"activity_name"`
	CategoryUID     int          `json:"category_uid"`
	CategoryName    string       `json:"category_name"`
	ClassUID        int          `json:"class_uid"`
	ClassName       string       `json:"class_name"`
	TypeUID         int          `json:"type_uid"`
	TypeName        string       `json:"type_name"`
	Time            int64        `json:"time"`
	TimezoneOffset  int          `json:"timezone_offset"`
	SeverityID      int          `json:"severity_id"`
	Severity        string       `json:"severity"`
	RiskScore       int          `json:"risk_score"`
	RiskLevelID     int          `json:"risk_level_id"`
	RiskLevel       string       `json:"risk_level"`
	PriorityID      int          `json:"priority_id"`
	Priority        string       `json:"priority"`
	IsAlert         bool         `json:"is_alert"`
	StatusID        int          `json:"status_id"`
	Status          string       `json:"status"`
	StatusDetail    string       `json:"status_detail"`
	ActionID        int          `json:"action_id"`
	Action          string       `json:"action"`
	DispositionID   int          `json:"disposition_id"`
	Disposition     string       `json:"disposition"`
	ConfidenceID    int          `json:"confidence_id"`
	Confidence      string       `json:"confidence"`
	ConfidenceScore int          `json:"confidence_score"`
	Message         string       `json:"message"`
	FindingInfo     FindingInfo  `json:"finding_info"`
	Actor           Actor        `json:"actor"`
	Resources       []Resource   `json:"resources,omitempty"`
	Evidences       []Evidence   `json:"evidences,omitempty"`
	Observables     []Observable `json:"observables,omitempty"`
	Metadata        Metadata     `json:"metadata"`
	Unmapped        Unmapped     `json:"unmapped"`
}

// FindingInfo is the OCSF finding_info object.
type FindingInfo struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	Desc          string         `json:"desc,omitempty"`
	Types         []string       `json:"types,omitempty"`
	Attacks       []Attack       `json:"attacks,omitempty"`
	CreatedTime   int64          `json:"created_time"`
	FirstSeenTime int64          `json:"first_seen_time"`
	LastSeenTime  int64          `json:"last_seen_time"`
	Analytic      Analytic       `json:"analytic"`
	DataSources   []string       `json:"data_sources"`
	RelatedEvents []RelatedEvent `json:"related_events,omitempty"`
}

// analytic names the finding's rule (detector/rules), else its detector.
func analytic(f models.Finding) Analytic {
	a := Analytic{Name: f.Detector, UID: f.Detector, TypeID: AnalyticBehavioral, Type: "Behavioral", Version: f.RulesetVersion}
	if f.RuleID != "" {
		a.Name, a.UID = f.Detector+"/"+f.Kind, f.RuleID
	}
	return a
}

// Analytic is the OCSF analytic object: the rule (detector/rules) that
// raised the finding, with the ruleset version; the detector's name when
// the finding carries no rule id.
type Analytic struct {
	Name    string `json:"name"`
	UID     string `json:"uid"`
	TypeID  int    `json:"type_id"`
	Type    string `json:"type"`
	Version string `json:"version,omitempty"`
}

// RelatedEvent is the OCSF related_event object; UID is a Tether event id.
type RelatedEvent struct {
	UID string `json:"uid"`
}

// Attack is the OCSF attack object, used for MITRE ATLAS.
type Attack struct {
	Tactic       *Technique `json:"tactic,omitempty"`
	Technique    *Technique `json:"technique,omitempty"`
	SubTechnique *Technique `json:"sub_technique,omitempty"`
}

// Technique is the shape shared by the OCSF tactic, technique and
// sub_technique objects.
type Technique struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Actor is the OCSF actor object: the agent (application) acting for a user
// in a session.
type Actor struct {
	AppName string   `json:"app_name,omitempty"`
	AppUID  string   `json:"app_uid,omitempty"`
	Session *Session `json:"session,omitempty"`
	User    *User    `json:"user,omitempty"`
}

// Session is the OCSF session object.
type Session struct {
	UID string `json:"uid"`
}

// User is the OCSF user object.
type User struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Resource is the OCSF resource_details object.
type Resource struct {
	UID    string `json:"uid"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	RoleID int    `json:"role_id"`
	Role   string `json:"role"`
}

// Evidence is one entry of the OCSF evidences array: a Tether event,
// described by the agent and session that produced it.
type Evidence struct {
	Name  string `json:"name"`
	UID   string `json:"uid"`
	Actor Actor  `json:"actor"`
}

// Observable is the OCSF observable object.
type Observable struct {
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
	Value  string `json:"value"`
}

// Metadata is the OCSF metadata object.
type Metadata struct {
	Product        Product  `json:"product"`
	Version        string   `json:"version"`
	Profiles       []string `json:"profiles"`
	LogName        string   `json:"log_name,omitempty"`
	OriginalTime   string   `json:"original_time"`
	CorrelationUID string   `json:"correlation_uid,omitempty"`
	UID            string   `json:"uid"`
}

// Product is the OCSF product object.
type Product struct {
	Name       string `json:"name"`
	UID        string `json:"uid"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

// Unmapped holds what OCSF has no attribute for, under "tether".
type Unmapped struct {
	Tether TetherFields `json:"tether"`
}

// TetherFields are the Tether-specific fields of a finding.
type TetherFields struct {
	RootAgentID string    `json:"root_agent_id,omitempty"`
	Step        int       `json:"step"`
	Detector    string    `json:"detector"`
	Kind        string    `json:"kind"`
	Subject     string    `json:"subject,omitempty"`
	Severity    int       `json:"severity"`
	Confidence  Float     `json:"confidence"`
	Features    []Feature `json:"features,omitempty"`
}

// Feature is models.Feature with JSON-safe numbers.
type Feature struct {
	Name     string `json:"name"`
	Observed Float  `json:"observed"`
	Baseline Float  `json:"baseline"`
	Spread   Float  `json:"spread"`
}

// Float is a float64 that encodes NaN and ±Inf as strings instead of
// failing.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// SeverityID maps Tether's 0–100 severity to the OCSF severity_id and its
// caption: one OCSF severity per models.Band, Informational (1) to
// Critical (5).
func SeverityID(sev uint8) (int, string) {
	b := models.BandOf(sev)
	return SeverityInformational + int(b), [...]string{"Informational", "Low", "Medium", "High", "Critical"}[b]
}

// RiskLevel maps the severity bands to risk_level_id (0 Info … 4 Critical)
// and its caption.
func RiskLevel(sev uint8) (int, string) {
	id, _ := SeverityID(sev)
	return id - 1, [...]string{"Info", "Low", "Medium", "High", "Critical"}[id-1]
}

// Priority maps the severity bands to the triage priority_id (1 Low …
// 4 Critical; informational findings are Low) and its caption.
func Priority(sev uint8) (int, string) {
	id, _ := SeverityID(sev)
	if id == SeverityInformational {
		id = SeverityLow
	}
	return id - 1, [...]string{"Low", "Medium", "High", "Critical"}[id-2]
}

// ConfidenceScore maps a 0–1 confidence to OCSF confidence_score (0–100),
// confidence_id and its caption (1 Low <0.4, 2 Medium <0.7, 3 High).
// A NaN confidence counts as 0.
func ConfidenceScore(c float64) (score, id int, caption string) {
	if math.IsNaN(c) || c < 0 {
		c = 0
	}
	if c > 1 {
		c = 1
	}
	score = int(math.Round(c * 100))
	switch {
	case c < 0.4:
		return score, 1, "Low"
	case c < 0.7:
		return score, 2, "Medium"
	default:
		return score, 3, "High"
	}
}

// Map converts a finding into a Detection Finding. A finding without an ID
// gets its deterministic ID (f is a copy; the caller's value is unchanged).
func Map(f models.Finding, o Options) DetectionFinding {
	if f.ID == "" {
		f.SetID()
	}
	sevID, sevName := SeverityID(f.Severity)
	riskID, riskName := RiskLevel(f.Severity)
	prioID, prioName := Priority(f.Severity)
	score, confID, confName := ConfidenceScore(f.Confidence)
	ms := f.Time.UnixMilli()
	cls := Classify(f.Kind)
	statusID, status, statusDetail := StatusNew, "New", "created by Tether detector "+f.Detector
	if f.Exception != "" {
		statusID, status, statusDetail = StatusSuppressed, "Suppressed", "suppressed by exception "+f.Exception
	}
	d := DetectionFinding{
		ActivityID:      ActivityCreate,
		ActivityName:    "Create",
		CategoryUID:     CategoryUID,
		CategoryName:    "Findings",
		ClassUID:        ClassUID,
		ClassName:       "Detection Finding",
		TypeUID:         TypeUID,
		TypeName:        "Detection Finding: Create",
		Time:            ms,
		SeverityID:      sevID,
		Severity:        sevName,
		RiskScore:       int(f.Severity),
		RiskLevelID:     riskID,
		RiskLevel:       riskName,
		PriorityID:      prioID,
		Priority:        prioName,
		IsAlert:         f.Severity >= models.AlertThreshold && f.Exception == "",
		StatusID:        statusID,
		Status:          status,
		StatusDetail:    statusDetail,
		ActionID:        ActionObserved,
		Action:          "Observed",
		DispositionID:   DispositionDetected,
		Disposition:     "Detected",
		ConfidenceID:    confID,
		Confidence:      confName,
		ConfidenceScore: score,
		Message:         f.Explanation,
		FindingInfo: FindingInfo{
			UID:           f.ID,
			Title:         f.Detector + "/" + f.Kind,
			Desc:          f.Explanation,
			Attacks:       cls.Attacks,
			CreatedTime:   ms,
			FirstSeenTime: ms,
			LastSeenTime:  ms,
			Analytic:      analytic(f),
			DataSources:   []string{DataSource},
		},
		Actor: actor(f),
		Metadata: Metadata{
			Product:        Product{Name: ProductName, UID: ProductUID, VendorName: VendorName, Version: o.ProductVersion},
			Version:        SchemaVersion,
			Profiles:       Profiles,
			LogName:        o.LogName,
			OriginalTime:   f.Time.UTC().Format(time.RFC3339Nano),
			CorrelationUID: f.SessionID,
			UID:            f.ID,
		},
		Unmapped: Unmapped{Tether: TetherFields{
			RootAgentID: f.RootAgentID,
			Step:        f.Step,
			Detector:    f.Detector,
			Kind:        f.Kind,
			Subject:     f.Subject,
			Severity:    int(f.Severity),
			Confidence:  Float(f.Confidence),
		}},
	}
	if f.Kind != "" {
		d.FindingInfo.Types = []string{f.Kind}
	}
	if cls.OWASP != "" {
		d.FindingInfo.Types = append(d.FindingInfo.Types, cls.OWASP)
	}
	if f.Principal != "" {
		d.Observables = append(d.Observables, Observable{Name: "actor.user.name", TypeID: ObservableUserName, Type: "User Name", Value: f.Principal})
	}
	if f.AgentID != "" {
		d.Resources = append(d.Resources, Resource{UID: f.AgentID, Name: f.AgentID, Type: ResourceTypeAgent, RoleID: ResourceRoleTarget, Role: "Target"})
		d.Observables = append(d.Observables, Observable{Name: "resources[].uid", TypeID: ObservableResourceUID, Type: "Resource UID", Value: f.AgentID})
	}
	if f.RootAgentID != "" && f.RootAgentID != f.AgentID {
		d.Resources = append(d.Resources, Resource{UID: f.RootAgentID, Name: f.RootAgentID, Type: ResourceTypeAgent, RoleID: ResourceRoleRelated, Role: "Related"})
		d.Observables = append(d.Observables, Observable{Name: "resources[].uid", TypeID: ObservableResourceUID, Type: "Resource UID", Value: f.RootAgentID})
	}
	if f.SessionID != "" {
		d.Observables = append(d.Observables, Observable{Name: "actor.session.uid", TypeID: ObservableOther, Type: "Session ID", Value: f.SessionID})
	}
	for _, id := range f.EvidenceIDs {
		d.FindingInfo.RelatedEvents = append(d.FindingInfo.RelatedEvents, RelatedEvent{UID: id})
		d.Evidences = append(d.Evidences, Evidence{Name: "tether.event", UID: id, Actor: actor(f)})
	}
	for _, ft := range f.Features {
		d.Unmapped.Tether.Features = append(d.Unmapped.Tether.Features, Feature{
			Name: ft.Name, Observed: Float(ft.Observed), Baseline: Float(ft.Baseline), Spread: Float(ft.Spread),
		})
	}
	return d
}

// actor is the agent acting in its session for its principal. OCSF requires
// at least one actor attribute; an agent id is always present on findings
// from the pipeline, and "unknown" stands in when it is not.
func actor(f models.Finding) Actor {
	a := Actor{AppName: f.AgentID, AppUID: f.AgentID}
	if f.SessionID != "" {
		a.Session = &Session{UID: f.SessionID}
	}
	if f.Principal != "" {
		a.User = &User{Name: f.Principal, UID: f.Principal}
	}
	if a.AppUID == "" && a.Session == nil && a.User == nil {
		a.AppName = "unknown"
	}
	return a
}

// Marshal maps f and encodes it as JSON.
func Marshal(f models.Finding, o Options) ([]byte, error) {
	b, err := json.Marshal(Map(f, o))
	if err != nil {
		return nil, fmt.Errorf("ocsf: encode finding %s: %w", f.ID, err)
	}
	return b, nil
}
