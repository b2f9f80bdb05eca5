package toolcap

import (
	"slices"
	"strings"
	"testing"

	"github.com/tetherhq/tether/models"
)

const (
	P = models.LabelPrivateData
	U = models.LabelUntrustedContent
	S = models.LabelPublicSink
	D = models.LabelDestructive
	X = models.LabelExecution
	M = models.LabelMoney
)

func ls(l ...models.Label) []models.Label { return l }

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func TestInferFromNames(t *testing.T) {
	tests := []struct {
		tool string
		want []models.Label
	}{
		{"send_money", ls(S, D, M)},
		{"schedule_transaction", ls(S, D, M)},
		{"update_password", ls(D)},
		{"update_user_info", nil},
		{"read_file", ls(P)},
		{"get_webpage", ls(U)},
		{"post_webpage", ls(S)},
		{"read_inbox", ls(P, U)},
		{"add_user_to_channel", ls(S)},
		{"invite_user_to_slack", ls(S)},
		{"delete_file", ls(D)},
		{"create_calendar_event", nil},
		{"get_current_day", nil},
		{"reserve_hotel", ls(D)},
		{"append_to_file", nil},
		// namespaced and camelCase names: the first verb decides.
		{"github__create_issue", nil},
		{"filesystem.delete_file", ls(D)},
		{"slackPostMessage", ls(S)},
		{"get_transfer_status", ls(P)},
		{"run_shell_command", ls(D, X)},
		{"execute", ls(D, X)},
		{"buy_item", ls(D, M)},
		{"fs_list_directory", ls(P)},
		{"weather", nil},
		// toolkit-prefixed CamelCase names (emulated-tool benchmarks)
		{"GmailSendEmail", ls(S)},
		{"BankManagerTransferFunds", ls(S, D, M)},
		{"TerminalExecute", ls(D, X)},
		{"AugustSmartLockUnlockDoor", ls(D)},
		{"EvernoteManagerManageNoteSharingLevel", ls(S)},
		{"TDAmeritradeTradeStock", ls(D, M)},
		{"GitHubDeleteRepository", ls(D)},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			in := Infer(&models.ToolSpec{Name: tt.tool}, Observed{})
			if !slices.Equal(in.Labels, tt.want) {
				t.Errorf("Infer(%q) = %v, want %v (evidence %v)", tt.tool, in.Labels, tt.want, in.Evidence)
			}
		})
	}
}

func TestInferFromArguments(t *testing.T) {
	tests := []struct {
		name string
		tool string
		args []string
		want []models.Label
	}{
		{"payment by arguments", "tool_7", []string{"amount", "recipient", "date"}, ls(S, D, M)},
		{"iban payment", "op", []string{"iban", "transferAmount"}, ls(S, D, M)},
		{"card", "checkout_cart", []string{"cardNumber", "cvv"}, ls(D, M)},
		{"shell", "t", []string{"command", "timeout"}, ls(D, X)},
		{"python code", "t", []string{"python_code"}, ls(D, X)},
		{"country code is not code", "t", []string{"country_code", "city"}, nil},
		{"message", "t", []string{"recipients", "subject", "body"}, ls(S)},
		{"channel post", "t", []string{"to", "text"}, ls(S)},
		{"share", "t", []string{"file_id", "email", "permission"}, ls(S)},
		{"http post", "t", []string{"url", "json"}, ls(S)},
		{"webhook", "t", []string{"webhook_url"}, ls(S)},
		{"fetch", "t", []string{"url"}, ls(U)},
		{"selectors read", "t", []string{"query", "limit"}, ls(P)},
		{"write is no read", "t", []string{"path", "content"}, nil},
		{"set password", "t", []string{"new_password"}, ls(D)},
		{"login is no change", "t", []string{"username", "password"}, nil},
		{"force", "t", []string{"path", "recursive"}, ls(D)},
		{"to date", "t", []string{"from_date", "to_date"}, ls(P)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := FromCall(tt.tool, tt.args)
			if !slices.Equal(in.Labels, tt.want) {
				t.Errorf("FromCall(%q, %v) = %v, want %v (evidence %v)", tt.tool, tt.args, in.Labels, tt.want, in.Evidence)
			}
		})
	}
}

func TestInferFromDeclaration(t *testing.T) {
	schema := func(props ...string) map[string]any {
		p := map[string]any{}
		for i := 0; i+1 < len(props); i += 2 {
			p[props[i]] = map[string]any{"type": props[i+1]}
		}
		return map[string]any{"type": "object", "properties": p}
	}
	tests := []struct {
		name string
		spec models.ToolSpec
		want []models.Label
	}{
		{"description sink", models.ToolSpec{Name: "notify_tool", Description: "Sends a notification to the given Slack channel."}, ls(S)},
		{"description delete", models.ToolSpec{Name: "x1", Description: "Permanently deletes the record."}, ls(D)},
		{"description exec", models.ToolSpec{Name: "x2", Description: "Executes a shell command and returns its output."}, ls(D, X)},
		{"description web read", models.ToolSpec{Name: "x3", Description: "Fetches the web page at a URL and returns its text."}, ls(U)},
		{"schema payment", models.ToolSpec{Name: "x4", InputSchema: schema("amount", "number", "payee", "string")}, ls(S, D, M)},
		{"schema amount as text is not money", models.ToolSpec{Name: "x5", InputSchema: schema("amount_description", "string", "payee", "string")}, nil},
		{"read-only vetoes name", models.ToolSpec{Name: "delete_preview", Annotations: &models.ToolAnnotations{ReadOnlyHint: yes()}}, ls(P)},
		{"destructive hint", models.ToolSpec{Name: "sync", Annotations: &models.ToolAnnotations{ReadOnlyHint: no(), DestructiveHint: yes()}}, ls(D)},
		{"open world read", models.ToolSpec{Name: "lookup", Annotations: &models.ToolAnnotations{ReadOnlyHint: yes(), OpenWorldHint: yes()}}, ls(U)},
		{"open world write", models.ToolSpec{Name: "x6", Annotations: &models.ToolAnnotations{ReadOnlyHint: no(), DestructiveHint: no(), OpenWorldHint: yes()}}, ls(S)},
		{"closed world vetoes sink", models.ToolSpec{Name: "send_note", Annotations: &models.ToolAnnotations{OpenWorldHint: no()}}, nil},
		{"not destructive vetoes", models.ToolSpec{Name: "remove_tag", Annotations: &models.ToolAnnotations{DestructiveHint: no()}}, nil},
		{"datastore", models.ToolSpec{Name: "kb", Type: "datastore"}, ls(P)},
		{"extension", models.ToolSpec{Name: "partner_api", Type: "extension"}, ls(U)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Infer(&tt.spec, Observed{})
			if !slices.Equal(in.Labels, tt.want) {
				t.Errorf("Infer(%+v) = %v, want %v (evidence %v)", tt.spec, in.Labels, tt.want, in.Evidence)
			}
			for _, e := range in.Evidence {
				if e.Why == "" || !in.Has(e.Label) {
					t.Errorf("evidence %+v: empty reason or label not inferred", e)
				}
			}
		})
	}
}

func TestResolveInventoryWins(t *testing.T) {
	spec := models.ToolSpec{Name: "send_email", Labels: []models.Label{}}
	if got := Resolve(&spec); len(got) != 0 {
		t.Errorf("explicit empty labels: got %v", got)
	}
	spec.Labels = ls(P)
	if got := Resolve(&spec); !slices.Equal(got, ls(P)) {
		t.Errorf("inventory labels: got %v", got)
	}
	spec.Labels = nil
	if got := Resolve(&spec); !slices.Equal(got, ls(S)) {
		t.Errorf("undeclared labels: got %v, want inferred [public_sink]", got)
	}
}

func TestWords(t *testing.T) {
	tests := map[string][]string{
		"send_money":          {"send", "money"},
		"slackPostMessage":    {"slack", "post", "message"},
		"fs.read-file":        {"fs", "read", "file"},
		"HTTPRequest":         {"httprequest"},
		"":                    nil,
		"Sends an e-mail. X!": {"sends", "an", "e", "mail", "x"},
	}
	for in, want := range tests {
		if got := Words(in); !slices.Equal(got, want) {
			t.Errorf("Words(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestLabelInventory(t *testing.T) {
	if LabelInventory(nil) != nil {
		t.Error("nil inventory")
	}
	labelled := &models.Inventory{Agents: []models.AgentSpec{{ID: "a", Tools: []models.ToolSpec{{Name: "send_email", Labels: ls(P)}}}}}
	if err := labelled.Index(); err != nil {
		t.Fatal(err)
	}
	if LabelInventory(labelled) != labelled {
		t.Error("a fully labelled inventory is returned as is")
	}
	inv := &models.Inventory{Agents: []models.AgentSpec{{ID: "a", Tools: []models.ToolSpec{
		{Name: "send_email"},
		{Name: "notes", Labels: []models.Label{}},
		{Name: "pay", InputSchema: map[string]any{"properties": map[string]any{"amount": map[string]any{"type": "number"}, "iban": map[string]any{"type": "string"}}}},
		{Name: "cleanup"},
	}}}}
	if err := inv.Index(); err != nil {
		t.Fatal(err)
	}
	out := LabelInventory(inv)
	if out == inv {
		t.Fatal("inventory with undeclared labels returned as is")
	}
	if inv.Agents[0].Tools[0].Labels != nil {
		t.Error("input inventory modified")
	}
	if again := LabelInventory(inv); again != out {
		t.Error("the same inventory is labelled into a second copy")
	}
	other := &models.Inventory{Agents: []models.AgentSpec{{ID: "b", Tools: []models.ToolSpec{{Name: "send_email"}}}}}
	if err := other.Index(); err != nil {
		t.Fatal(err)
	}
	if o := LabelInventory(other); o == out || o.Agent("b") == nil {
		t.Error("another inventory gets the memoised copy")
	}
	a := out.Agent("a")
	want := map[string][]models.Label{"send_email": ls(S), "notes": {}, "pay": ls(S, D, M), "cleanup": {}}
	for name, w := range want {
		got := a.Tool(name).Labels
		if !slices.Equal(got, w) || got == nil {
			t.Errorf("%s: labels %v, want %v (non-nil)", name, got, w)
		}
	}
}

// FuzzInfer: any name, description and argument names give valid labels
// in models.Labels order, each backed by evidence.
func FuzzInfer(f *testing.F) {
	f.Add("send_money", "Sends money to a recipient.", "amount,recipient")
	f.Add("x", "", "")
	f.Add("ÄöüRun_SHELL", "exécute une commande", "cmd,,python_code")
	f.Fuzz(func(t *testing.T, name, desc, args string) {
		in := Infer(&models.ToolSpec{Name: name, Description: desc}, Observed{ArgNames: strings.Split(args, ",")})
		last := -1
		for _, l := range in.Labels {
			i := slices.Index(models.Labels, l)
			if i <= last {
				t.Fatalf("labels %v not unique in models.Labels order", in.Labels)
			}
			last = i
			if !slices.ContainsFunc(in.Evidence, func(e Evidence) bool { return e.Label == l }) {
				t.Fatalf("label %s without evidence", l)
			}
		}
	})
}
