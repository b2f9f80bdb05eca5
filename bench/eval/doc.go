// Package eval measures detection quality: it replays a labelled stream of
// agent events through the production detector engine and scores sessions
// against ground truth (AUROC, recall at fixed false positive rates, rates
// at models.AlertThreshold, early detection), broken down by the labels'
// group fields. The stream format is documented in README.md; any data set
// converted to it can be evaluated with `tether eval`.
//
// The harness adds no detection logic. Events are replayed in (time, agent,
// step) order through one detector.Engine; a session's score is the highest
// severity among the findings emitted for it up to and including its last
// event, so nothing later in the stream can raise it.
package eval
