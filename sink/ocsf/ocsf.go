// Package ocsf maps Tether's findings to the Open Cybersecurity Schema
// Framework (OCSF 1.4.0) so that SIEMs receive them in a standard schema,
// and publishes them to a Kafka topic (Publisher).
//
// Every models.Finding becomes one Detection Finding event (class_uid 2004,
// category_uid 2 "Findings", activity_id 1 "Create", type_uid 200401):
//
//	OCSF attribute                       Tether source
//	time                                 Finding.Time (epoch ms; event time of the triggering event)
//	severity_id / severity               Finding.Severity banded: <30 Informational (1), <50 Low (2),
//	                                     <70 Medium (3), <90 High (4), ≥90 Critical (5)
//	risk_score                           Finding.Severity, the raw 0–100 score
//	is_alert                             true when Severity ≥ models.AlertThreshold (omitted otherwise)
//	status_id / status                   1 "New" (Tether does not track triage)
//	confidence_score                     round(Finding.Confidence × 100), clamped to 0–100
//	confidence_id / confidence           <0.4 Low (1), <0.7 Medium (2), else High (3)
//	message                              Finding.Explanation
//	finding_info.uid                     Finding.ID (deterministic)
//	finding_info.title                   "<detector>/<kind>"
//	finding_info.desc                    Finding.Explanation
//	finding_info.types                   [Finding.Kind]
//	finding_info.created_time            Finding.Time
//	finding_info.analytic                {name, uid: Detector; type_id 2 "Behavioral"}
//	finding_info.related_events[].uid    Finding.EvidenceIDs (Tether event ids)
//	evidences[]                          one per evidence event: uid and name "tether.event",
//	                                     data {"event_id": …} (the schema requires one of its
//	                                     typed attributes; Tether only carries the id)
//	actor.app_uid, actor.app_name        Finding.AgentID: the AI agent is the acting application
//	actor.session.uid                    Finding.SessionID
//	actor.user.name                      Finding.Principal (the human or service the agent acts
//	                                     for; omitted when empty)
//	observables                          actor.user.name (type_id 4 "User Name"); actor.app_uid and
//	                                     actor.session.uid as type_id 99 "Other" with type
//	                                     "Agent ID" / "Session ID" (OCSF has no agent type)
//	metadata.product                     {name "Tether", vendor_name "Tether", version: ProductVersion}
//	metadata.version                     "1.4.0" (SchemaVersion)
//	metadata.uid                         Finding.ID, so a SIEM can de-duplicate replays
//	unmapped.tether                      root_agent_id, step, detector, kind, subject (what tells
//	                                     apart findings of one kind on the same evidence), severity,
//	                                     confidence, features (observed, baseline, spread)
//
// Why the agent is the actor's application: OCSF 1.x has no first-class
// "AI agent" entity. actor.app_name/app_uid are "the client application or
// service that initiated the activity … in conjunction with the user", which
// is what an agent acting for a principal is; actor.session is the session it
// acted in. The root agent of a delegation tree has no OCSF home and stays in
// unmapped.tether.root_agent_id.
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
	"strconv"

	"github.com/tetherhq/tether/models"
)

// OCSF identifiers of the Detection Finding class as emitted by Map.
const (
	// SchemaVersion is the OCSF version the events conform to (metadata.version).
	SchemaVersion = "1.4.0"
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
	// AnalyticBehavioral is the analytic type_id "Behavioral".
	AnalyticBehavioral = 2
	// ProductName and VendorName fill metadata.product.
	ProductName = "Tether"
	VendorName  = "Tether"
)

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
	ObservableUserName = 4
	ObservableOther    = 99
)

// DetectionFinding is the OCSF 1.4.0 Detection Finding event that Map
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
	SeverityID      int          `json:"severity_id"`
	Severity        string       `json:"severity"`
	RiskScore       int          `json:"risk_score"`
	IsAlert         bool         `json:"is_alert,omitempty"`
	StatusID        int          `json:"status_id"`
	Status          string       `json:"status"`
	ConfidenceID    int          `json:"confidence_id"`
	Confidence      string       `json:"confidence"`
	ConfidenceScore int          `json:"confidence_score"`
	Message         string       `json:"message"`
	FindingInfo     FindingInfo  `json:"finding_info"`
	Actor           Actor        `json:"actor"`
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
	CreatedTime   int64          `json:"created_time"`
	Analytic      Analytic       `json:"analytic"`
	RelatedEvents []RelatedEvent `json:"related_events,omitempty"`
}

// Analytic is the OCSF analytic object (the detector).
type Analytic struct {
	Name   string `json:"name"`
	UID    string `json:"uid"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

// RelatedEvent is the OCSF related_event object; UID is a Tether event id.
type RelatedEvent struct {
	UID string `json:"uid"`
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
}

// Evidence is one entry of the OCSF evidences array.
type Evidence struct {
	Name string       `json:"name"`
	UID  string       `json:"uid"`
	Data EvidenceData `json:"data"`
}

// EvidenceData is the free-form data of an Evidence entry.
type EvidenceData struct {
	EventID string `json:"event_id"`
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
	Product Product `json:"product"`
	Version string  `json:"version"`
	UID     string  `json:"uid"`
}

// Product is the OCSF product object.
type Product struct {
	Name       string `json:"name"`
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
// caption.
func SeverityID(sev uint8) (int, string) {
	switch {
	case sev < models.SeverityLow:
		return SeverityInformational, "Informational"
	case sev < models.SeverityMedium:
		return SeverityLow, "Low"
	case sev < models.SeverityHigh:
		return SeverityMedium, "Medium"
	case sev < models.SeverityCritical:
		return SeverityHigh, "High"
	default:
		return SeverityCritical, "Critical"
	}
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

// Map converts a finding into a Detection Finding. productVersion fills
// metadata.product.version (omitted when empty). A finding without an ID
// gets its deterministic ID (f is a copy; the caller's value is unchanged).
func Map(f models.Finding, productVersion string) DetectionFinding {
	if f.ID == "" {
		f.SetID()
	}
	sevID, sevName := SeverityID(f.Severity)
	score, confID, confName := ConfidenceScore(f.Confidence)
	ms := f.Time.UnixMilli()
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
		IsAlert:         f.Severity >= models.AlertThreshold,
		StatusID:        StatusNew,
		Status:          "New",
		ConfidenceID:    confID,
		Confidence:      confName,
		ConfidenceScore: score,
		Message:         f.Explanation,
		FindingInfo: FindingInfo{
			UID:         f.ID,
			Title:       f.Detector + "/" + f.Kind,
			Desc:        f.Explanation,
			CreatedTime: ms,
			Analytic:    Analytic{Name: f.Detector, UID: f.Detector, TypeID: AnalyticBehavioral, Type: "Behavioral"},
		},
		Actor: Actor{AppName: f.AgentID, AppUID: f.AgentID},
		Metadata: Metadata{
			Product: Product{Name: ProductName, VendorName: VendorName, Version: productVersion},
			Version: SchemaVersion,
			UID:     f.ID,
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
	if f.SessionID != "" {
		d.Actor.Session = &Session{UID: f.SessionID}
	}
	if f.Principal != "" {
		d.Actor.User = &User{Name: f.Principal}
		d.Observables = append(d.Observables, Observable{Name: "actor.user.name", TypeID: ObservableUserName, Type: "User Name", Value: f.Principal})
	}
	if f.AgentID != "" {
		d.Observables = append(d.Observables, Observable{Name: "actor.app_uid", TypeID: ObservableOther, Type: "Agent ID", Value: f.AgentID})
	}
	if f.SessionID != "" {
		d.Observables = append(d.Observables, Observable{Name: "actor.session.uid", TypeID: ObservableOther, Type: "Session ID", Value: f.SessionID})
	}
	for _, id := range f.EvidenceIDs {
		d.FindingInfo.RelatedEvents = append(d.FindingInfo.RelatedEvents, RelatedEvent{UID: id})
		d.Evidences = append(d.Evidences, Evidence{Name: "tether.event", UID: id, Data: EvidenceData{EventID: id}})
	}
	for _, ft := range f.Features {
		d.Unmapped.Tether.Features = append(d.Unmapped.Tether.Features, Feature{
			Name: ft.Name, Observed: Float(ft.Observed), Baseline: Float(ft.Baseline), Spread: Float(ft.Spread),
		})
	}
	return d
}

// Marshal maps f and encodes it as JSON.
func Marshal(f models.Finding, productVersion string) ([]byte, error) {
	b, err := json.Marshal(Map(f, productVersion))
	if err != nil {
		return nil, fmt.Errorf("ocsf: encode finding %s: %w", f.ID, err)
	}
	return b, nil
}
