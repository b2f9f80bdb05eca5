package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/incident"
)

// runExport is `tether export incident|inventory`.
func runExport(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: usage: tether export incident (--finding ID | --agent ID) [--console URL] [--out DIR] | tether export inventory (--inventory FILE | --console URL) [--out FILE]", errConfig)
	}
	switch args[0] {
	case "incident":
		return exportIncident(args[1:], stdout)
	case "inventory":
		return exportInventory(args[1:], stdout)
	}
	return fmt.Errorf("%w: unknown export %q (incident or inventory)", errConfig, args[0])
}

// exportIncident fetches the incident from a running console (`tether run`
// or `tether demo`) and writes it as JSON and as a print-ready HTML page.
func exportIncident(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("export incident", flag.ContinueOnError)
	finding := fs.String("finding", "", "the finding id")
	agent := fs.String("agent", "", "the agent id")
	console := fs.String("console", "http://127.0.0.1:9464", "URL of the running console (tether run or tether demo)")
	out := fs.String("out", ".", "directory for incident-<id>.json and incident-<id>.html")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || (*finding == "") == (*agent == "") {
		return fmt.Errorf("%w: %w", errConfig, incident.ErrScope)
	}
	q := url.Values{}
	id := *finding
	if id != "" {
		q.Set("finding", id)
	} else {
		id = *agent
		q.Set("agent", id)
	}
	var inc incident.Incident
	if err := getJSON(strings.TrimRight(*console, "/")+"/api/export/incident?"+q.Encode(), &inc); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	base := filepath.Join(*out, "incident-"+safeName(id))
	b, err := json.MarshalIndent(&inc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(base + ".html")
	if err != nil {
		return err
	}
	if err := inc.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "incident of %s: %d sessions, %d events, %d findings, %d commands, %d triage decisions\n  %s.json\n  %s.html\n",
		id, len(inc.Summary.Sessions), inc.Summary.Events, len(inc.Findings), len(inc.Commands), len(inc.Triage), base, base)
	return nil
}

// exportInventory writes the AI-agent asset catalogue of an inventory file,
// or of the inventory a running console reports.
func exportInventory(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("export inventory", flag.ContinueOnError)
	file := fs.String("inventory", "", "inventory YAML or JSON file")
	console := fs.String("console", "", "URL of a running console, instead of --inventory")
	out := fs.String("out", "", "output file (default: standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || (*file == "") == (*console == "") {
		return fmt.Errorf("%w: give one of --inventory FILE or --console URL", errConfig)
	}
	var cat incident.Catalogue
	if *file != "" {
		inv, err := models.LoadInventoryFile(*file)
		if err != nil {
			return err
		}
		cat = incident.NewCatalogue(inv, time.Now())
	} else if err := getJSON(strings.TrimRight(*console, "/")+"/api/export/inventory", &cat); err != nil {
		return err
	}
	b, err := json.MarshalIndent(&cat, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if *out == "" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

func getJSON(u string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("console %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("console %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("console %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}

// safeName keeps an id usable as part of a file name.
func safeName(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == ':' {
			return '_'
		}
		return r
	}, id)
}
