package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/tetherhq/tether/cmd/tether/console"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/memstore"
)

// newConsoleStore returns the console's bounded in-memory view
// (memstore.DefaultOptions) over the declared inventory.
func newConsoleStore(inv *models.Inventory) *memstore.Store {
	o := memstore.DefaultOptions()
	o.Inventory = inv
	return memstore.New(o)
}

// consoleHandler is the console over store. When sinks has a ClickHouse
// writer, sessions and findings no longer in memory are read from
// ClickHouse (historySource), and triage decisions are written to its
// triage table first (the same code as `tether triage set`), then to the
// store.
func consoleHandler(store *memstore.Store, sinks sink.Multi, token, title string) http.Handler {
	o := console.DefaultOptions()
	o.Source, o.Triage, o.Token, o.Title = store, store, token, title
	for _, w := range sinks {
		if ch, ok := clickHouseOf(w); ok {
			// History beyond the memory window comes from ClickHouse, and
			// so may a finding being triaged: memory then has nothing to
			// update.
			o.Source = historySource{Store: store, ch: ch}
			o.Triage = console.Multi{ch, inMemoryIfKept{store}}
		}
	}
	return console.Handler(o)
}

// inMemoryIfKept records triage in the store when it holds the finding.
type inMemoryIfKept struct{ *memstore.Store }

// SetTriage implements console.TriageWriter.
func (m inMemoryIfKept) SetTriage(ctx context.Context, r triage.Record) error {
	if err := m.Store.SetTriage(ctx, r); err != nil && !errors.Is(err, memstore.ErrNotFound) {
		return err
	}
	return nil
}

// serveConsole serves h on addr (the demo's console); it returns the server
// and the address it listens on.
func serveConsole(addr string, h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("console listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Printf("console server: %v\n", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}
