package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/ingest/otlp"
	"github.com/tetherhq/tether/models"
)

// decodeRecord turns one record into events. A native event record gives
// one event (ev); a native execute_tool event that carries both arguments
// and result, as one OpenTelemetry execute_tool span does, gives its call
// and its result (more); an OTLP trace payload (otlp_proto or otlp_json,
// as the OpenTelemetry Collector's Kafka exporter writes them) gives the
// events of its GenAI spans (more). Every event is validated against the
// record's timestamp; one invalid event dead-letters the whole record.
func (c *Consumer) decodeRecord(r *kgo.Record) (ev *models.Event, more []*models.Event, err error) {
	enc := otlp.Sniff(r.Value)
	if enc == "" {
		ev, err = c.dec.Decode(r.Value, r.Timestamp)
		if err != nil {
			return nil, nil, err
		}
		if call, res, ok := splitToolSpan(ev); ok {
			return nil, []*models.Event{call, res}, nil
		}
		return ev, nil, nil
	}
	if max := c.opts.Decode.MaxBytes; max > 0 && len(r.Value) > max {
		return nil, nil, fmt.Errorf("%w: %s payload of %d bytes exceeds limit of %d", models.ErrOversized, enc, len(r.Value), max)
	}
	evs, err := otlp.Decode(r.Value, enc)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", models.ErrMalformed, err)
	}
	for _, e := range evs {
		if err := c.dec.Validate(e, r.Timestamp); err != nil {
			return nil, nil, fmt.Errorf("%s span event: %w", enc, err)
		}
	}
	return nil, evs, nil
}

// splitToolSpan splits a tool_call event that also carries the tool's
// result or error (one execute_tool span) into the call and a tool_result
// event with id "<event id>.result" at the same time and step.
func splitToolSpan(ev *models.Event) (call, res *models.Event, ok bool) {
	if ev.Kind != models.KindToolCall || (ev.Result == "" && ev.Error == "" && ev.ErrorType == "") {
		return nil, nil, false
	}
	r := *ev
	r.ID, r.Kind, r.Arguments = ev.ID+".result", models.KindToolResult, nil
	c := *ev
	c.Result, c.Error, c.ErrorType = "", "", ""
	return &c, &r, true
}

// rearm points recs at ctx before they are produced again: kgo keeps the
// context of a record's first Produce call in its Context field and fails
// the record at once when that context has ended, so a record retried
// after a failed attempt (whose context is cancelled when the attempt
// ends) would otherwise fail every later attempt without reaching the
// broker.
func rearm(ctx context.Context, recs []*kgo.Record) {
	for _, r := range recs {
		r.Context = ctx
	}
}
