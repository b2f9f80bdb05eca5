// Package models defines Tether's wire formats: the agent events it consumes,
// the findings it writes for analysts, the containment commands it publishes
// for automated consumers, and the agent inventory that declares what each
// agent is for and what it may touch.
//
// Events are JSON objects whose keys follow the OpenTelemetry GenAI semantic
// conventions (gen_ai.*) where one exists, and a tether.* namespace for what
// OpenTelemetry lacks (delegation lineage, principal, credential, autonomy
// level, data classes). The JSON Schema is in models/schema/event.v1.json.
package models
