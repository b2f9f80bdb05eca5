package incident

import (
	"html/template"
	"io"
	"time"
)

var page = template.Must(template.New("incident").Funcs(template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
	},
	"ms": func(v int64) string {
		if v < 0 {
			return "–"
		}
		return (time.Duration(v) * time.Millisecond).String()
	},
	"clip": func(s string) string {
		if len(s) > 600 {
			return s[:600] + "…"
		}
		return s
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Incident report {{if .Scope.FindingID}}finding {{.Scope.FindingID}}{{else}}agent {{.Scope.AgentID}}{{end}}</title>
<style>
body{font:12px/1.4 "DejaVu Sans",Arial,sans-serif;margin:2em;color:#111}
h1{font-size:18px} h2{font-size:14px;border-bottom:1px solid #999;margin-top:1.6em}
table{border-collapse:collapse;width:100%} td,th{border:1px solid #ccc;padding:2px 5px;vertical-align:top;text-align:left}
th{background:#eee} tr.finding td{background:#fff3e0} tr.command td{background:#fde8e8} tr.triage td{background:#e8f5e9}
.mono{font-family:"DejaVu Sans Mono",monospace;font-size:11px;word-break:break-all}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px} dt{font-weight:bold} dd{margin:0}
@media print{body{margin:0} tr{page-break-inside:avoid}}
</style></head><body>
<h1>Incident report — {{if .Scope.FindingID}}finding <span class="mono">{{.Scope.FindingID}}</span>{{else}}agent {{.Scope.AgentID}}{{end}}</h1>
<p>Generated {{ts .GeneratedAt}} by Tether ({{.Format}}). Times are event times as reported by the agent runtime, to the millisecond.</p>
<h2>Summary (NIS2 early warning)</h2>
<dl>
<dt>Sessions</dt><dd class="mono">{{range .Summary.Sessions}}{{.}} {{end}}</dd>
<dt>Agents</dt><dd>{{range .Summary.Agents}}{{.}} {{end}}</dd>
<dt>Principals</dt><dd>{{range .Summary.Principals}}{{.}} {{else}}–{{end}}</dd>
<dt>First event</dt><dd>{{ts .Summary.FirstEvent}}</dd>
<dt>First harmful step</dt><dd>{{ts .Summary.FirstHarmful}}</dd>
<dt>First alert</dt><dd>{{ts .Summary.FirstAlert}} (MTTD {{ms .Summary.MTTDMillis}})</dd>
<dt>First containment</dt><dd>{{ts .Summary.FirstCommand}} (MTTC {{ms .Summary.MTTCMillis}})</dd>
<dt>Severity</dt><dd>max {{.Summary.MaxSeverity}} / 100; {{.Summary.Alerts}} alerts among {{.Summary.Findings}} findings; {{.Summary.Commands}} commands; {{.Summary.Events}} events</dd>
{{range $k, $v := .Omitted}}<dt>Omitted</dt><dd>{{$k}}: {{$v}}</dd>{{end}}
</dl>
<h2>Agents involved</h2>
<table><tr><th>agent</th><th>owner</th><th>purpose</th><th>registered</th><th>autonomy</th><th>now</th><th>containment</th></tr>
{{range .Agents}}<tr><td>{{.ID}}</td><td>{{.Owner}}</td><td>{{.Purpose}}</td><td>{{.Registered}}</td><td>{{.Autonomy}}</td><td>{{.CurrentAutonomy}}</td><td>{{.Containment}}</td></tr>{{end}}
</table>
<h2>Findings</h2>
<table><tr><th>time</th><th>step</th><th>sev</th><th>detector/kind</th><th>status</th><th>explanation</th><th>evidence</th><th>id</th></tr>
{{range .Findings}}<tr><td>{{ts .Time}}</td><td>{{.Step}}</td><td>{{.Severity}}</td><td>{{.Detector}}/{{.Kind}}{{if .Subject}} ({{.Subject}}){{end}}</td><td>{{.Status}}</td><td>{{.Explanation}}</td><td class="mono">{{range .EvidenceIDs}}{{.}} {{end}}</td><td class="mono">{{.ID}}</td></tr>{{end}}
</table>
<h2>Containment commands</h2>
<table><tr><th>issued</th><th>action</th><th>target</th><th>sev</th><th>reason</th><th>findings</th><th>id</th></tr>
{{range .Commands}}<tr><td>{{ts .IssuedAt}}</td><td>{{.Action}}</td><td>{{.TargetAutonomy}}</td><td>{{.Severity}}</td><td>{{.Reason}}</td><td class="mono">{{range .FindingIDs}}{{.}} {{end}}</td><td class="mono">{{.ID}}</td></tr>{{else}}<tr><td colspan="7">none</td></tr>{{end}}
</table>
<h2>Acknowledgements and approvals</h2>
<p>{{if or .Acknowledgements .Approvals}}{{len .Acknowledgements}} acknowledgements, {{len .Approvals}} approvals.{{else}}None recorded: Tether does not yet record enforcement acknowledgements or human approvals.{{end}}</p>
<h2>Human oversight log (EU AI Act Art. 14)</h2>
<table><tr><th>time</th><th>type</th><th>agent</th><th>what</th><th>id</th></tr>
{{range .Oversight}}<tr class="{{.Type}}"><td>{{ts .Time}}</td><td>{{.Type}}</td><td>{{.AgentID}}</td><td>{{.Text}}</td><td class="mono">{{.ID}}</td></tr>{{else}}<tr><td colspan="5">none</td></tr>{{end}}
</table>
<h2>Timeline</h2>
<table><tr><th>time</th><th>session</th><th>step</th><th>agent</th><th>type</th><th>sev</th><th>what</th></tr>
{{range .Timeline}}<tr class="{{.Type}}"><td>{{ts .Time}}</td><td class="mono">{{.SessionID}}</td><td>{{if ge .Step 0}}{{.Step}}{{end}}</td><td>{{.AgentID}}</td><td>{{.Type}}</td><td>{{if .Severity}}{{.Severity}}{{end}}</td><td>{{clip .Text}}</td></tr>{{end}}
</table>
</body></html>
`))

// WriteHTML renders inc as a self-contained, print-ready HTML page (inline
// style, no script, no external resources).
func (inc *Incident) WriteHTML(w io.Writer) error { return page.Execute(w, inc) }
