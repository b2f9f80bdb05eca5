package parquet

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/tetherhq/tether/models"
)

var (
	str  = arrow.BinaryTypes.String
	ts   = arrow.FixedWidthTypes.Timestamp_ms // timestamp[ms, tz=UTC]
	f64  = arrow.PrimitiveTypes.Float64
	strs = arrow.ListOfNonNullable(str)

	featureType = arrow.StructOf(
		arrow.Field{Name: "name", Type: str},
		arrow.Field{Name: "observed", Type: f64},
		arrow.Field{Name: "baseline", Type: f64},
		arrow.Field{Name: "spread", Type: f64},
	)

	findingsSchema = arrow.NewSchema([]arrow.Field{
		{Name: "finding_id", Type: str},
		{Name: "time", Type: ts},
		{Name: "agent_id", Type: str},
		{Name: "root_agent_id", Type: str},
		{Name: "session_id", Type: str},
		{Name: "principal", Type: str},
		{Name: "detector", Type: str},
		{Name: "kind", Type: str},
		{Name: "severity", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "confidence", Type: f64},
		{Name: "explanation", Type: str},
		{Name: "evidence_event_ids", Type: strs},
		{Name: "features", Type: arrow.ListOfNonNullable(featureType)},
		{Name: "step", Type: arrow.PrimitiveTypes.Int32},
		{Name: "rule_id", Type: str},
		{Name: "ruleset_version", Type: str},
		{Name: "exception", Type: str},
	}, nil)

	commandsSchema = arrow.NewSchema([]arrow.Field{
		{Name: "command_id", Type: str},
		{Name: "agent_id", Type: str},
		{Name: "session_id", Type: str},
		{Name: "credential_id", Type: str},
		{Name: "action", Type: str},
		{Name: "target_autonomy", Type: str},
		{Name: "severity", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "reason", Type: str},
		{Name: "finding_ids", Type: strs},
		{Name: "issued_at", Type: ts},
		{Name: "expires_at", Type: ts},
	}, nil)
)

// FindingsSchema is the Arrow schema of the findings files. Columns follow
// models.Finding's JSON names. Every column, list element and struct field
// is required (non-nullable): absent optional values are empty strings, so
// readers expose plain types (ClickHouse String, not Nullable(String)).
func FindingsSchema() *arrow.Schema { return findingsSchema }

// CommandsSchema is the Arrow schema of the commands files. Columns follow
// models.ContainmentCommand's JSON names.
func CommandsSchema() *arrow.Schema { return commandsSchema }

func millis(t interface{ UnixMilli() int64 }) arrow.Timestamp { return arrow.Timestamp(t.UnixMilli()) }

func appendFindings(rb *array.RecordBuilder, rows []models.Finding) {
	var (
		id       = rb.Field(0).(*array.StringBuilder)
		tm       = rb.Field(1).(*array.TimestampBuilder)
		agent    = rb.Field(2).(*array.StringBuilder)
		root     = rb.Field(3).(*array.StringBuilder)
		session  = rb.Field(4).(*array.StringBuilder)
		princ    = rb.Field(5).(*array.StringBuilder)
		det      = rb.Field(6).(*array.StringBuilder)
		kind     = rb.Field(7).(*array.StringBuilder)
		sev      = rb.Field(8).(*array.Uint8Builder)
		conf     = rb.Field(9).(*array.Float64Builder)
		expl     = rb.Field(10).(*array.StringBuilder)
		evid     = rb.Field(11).(*array.ListBuilder)
		evidVals = evid.ValueBuilder().(*array.StringBuilder)
		feat     = rb.Field(12).(*array.ListBuilder)
		featVals = feat.ValueBuilder().(*array.StructBuilder)
		fName    = featVals.FieldBuilder(0).(*array.StringBuilder)
		fObs     = featVals.FieldBuilder(1).(*array.Float64Builder)
		fBase    = featVals.FieldBuilder(2).(*array.Float64Builder)
		fSpread  = featVals.FieldBuilder(3).(*array.Float64Builder)
		step     = rb.Field(13).(*array.Int32Builder)
		ruleID   = rb.Field(14).(*array.StringBuilder)
		rulesVer = rb.Field(15).(*array.StringBuilder)
		except   = rb.Field(16).(*array.StringBuilder)
	)
	for i := range rows {
		f := &rows[i]
		id.Append(f.ID)
		tm.Append(millis(f.Time))
		agent.Append(f.AgentID)
		root.Append(f.RootAgentID)
		session.Append(f.SessionID)
		princ.Append(f.Principal)
		det.Append(f.Detector)
		kind.Append(f.Kind)
		sev.Append(f.Severity)
		conf.Append(f.Confidence)
		expl.Append(f.Explanation)
		evid.Append(true)
		for _, e := range f.EvidenceIDs {
			evidVals.Append(e)
		}
		feat.Append(true)
		for _, x := range f.Features {
			featVals.Append(true)
			fName.Append(x.Name)
			fObs.Append(x.Observed)
			fBase.Append(x.Baseline)
			fSpread.Append(x.Spread)
		}
		step.Append(int32(f.Step))
		ruleID.Append(f.RuleID)
		rulesVer.Append(f.RulesetVersion)
		except.Append(f.Exception)
	}
}

func appendCommands(rb *array.RecordBuilder, rows []models.ContainmentCommand) {
	var (
		id       = rb.Field(0).(*array.StringBuilder)
		agent    = rb.Field(1).(*array.StringBuilder)
		session  = rb.Field(2).(*array.StringBuilder)
		cred     = rb.Field(3).(*array.StringBuilder)
		action   = rb.Field(4).(*array.StringBuilder)
		target   = rb.Field(5).(*array.StringBuilder)
		sev      = rb.Field(6).(*array.Uint8Builder)
		reason   = rb.Field(7).(*array.StringBuilder)
		fids     = rb.Field(8).(*array.ListBuilder)
		fidsVals = fids.ValueBuilder().(*array.StringBuilder)
		issued   = rb.Field(9).(*array.TimestampBuilder)
		expires  = rb.Field(10).(*array.TimestampBuilder)
	)
	for i := range rows {
		c := &rows[i]
		id.Append(c.ID)
		agent.Append(c.AgentID)
		session.Append(c.SessionID)
		cred.Append(c.CredentialID)
		action.Append(string(c.Action))
		target.Append(string(c.TargetAutonomy))
		sev.Append(c.Severity)
		reason.Append(c.Reason)
		fids.Append(true)
		for _, f := range c.FindingIDs {
			fidsVals.Append(f)
		}
		issued.Append(millis(c.IssuedAt))
		expires.Append(millis(c.ExpiresAt))
	}
}
