package toolcap

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/tetherhq/tether/detector/rules"
	"github.com/tetherhq/tether/models"
)

// ErrVocabulary reports a ruleset whose toolcap lists cannot be used.
var ErrVocabulary = errors.New("toolcap: invalid vocabulary")

// Vocabulary is the word lists the labelling rules match, built once from
// the toolcap.* lists of a ruleset (detector/rules/default.yaml), which
// operators can append to. It is immutable once built.
type Vocabulary struct {
	read, mutate, sink, destroy, pay, buy, commit, exec                   []string
	grantVerbs, shareVerbs, moneyVerbs, credVerbs, bookVerbs, execDirect  []string
	execRun                                                               []string
	execObjects, moneyObjects, credObjects, grantObjects, shareObjects    []string
	bookObjects, webObjects, commsObjects, clockObjects, qualifiers       []string
	amount, party, card, command, codeOwners, people, payload, url, share []string
	password, login, force, selector, path                                []string
	nameRules                                                             []verbRule
	allVerbs                                                              []string
}

// NewVocabulary builds the vocabulary from r's toolcap.* lists (nil: the
// default ruleset). Every list must be present and non-empty.
func NewVocabulary(r *rules.Ruleset) (*Vocabulary, error) {
	if r == nil {
		r = rules.Default()
	}
	v := &Vocabulary{}
	for _, l := range []struct {
		name string
		dst  *[]string
	}{
		{"toolcap.read_verbs", &v.read}, {"toolcap.mutate_verbs", &v.mutate}, {"toolcap.sink_verbs", &v.sink},
		{"toolcap.destroy_verbs", &v.destroy}, {"toolcap.pay_verbs", &v.pay}, {"toolcap.buy_verbs", &v.buy},
		{"toolcap.commit_verbs", &v.commit}, {"toolcap.exec_verbs", &v.exec},
		{"toolcap.grant_verbs", &v.grantVerbs}, {"toolcap.share_verbs", &v.shareVerbs}, {"toolcap.money_verbs", &v.moneyVerbs},
		{"toolcap.credential_verbs", &v.credVerbs}, {"toolcap.booking_verbs", &v.bookVerbs},
		{"toolcap.exec_direct_verbs", &v.execDirect}, {"toolcap.exec_run_verbs", &v.execRun},
		{"toolcap.exec_objects", &v.execObjects}, {"toolcap.money_objects", &v.moneyObjects},
		{"toolcap.credential_objects", &v.credObjects}, {"toolcap.grant_objects", &v.grantObjects},
		{"toolcap.share_objects", &v.shareObjects}, {"toolcap.booking_objects", &v.bookObjects},
		{"toolcap.web_objects", &v.webObjects}, {"toolcap.comms_objects", &v.commsObjects},
		{"toolcap.clock_objects", &v.clockObjects}, {"toolcap.qualifiers", &v.qualifiers},
		{"toolcap.arg_amount", &v.amount}, {"toolcap.arg_party", &v.party}, {"toolcap.arg_card", &v.card},
		{"toolcap.arg_command", &v.command}, {"toolcap.arg_code_languages", &v.codeOwners},
		{"toolcap.arg_people", &v.people}, {"toolcap.arg_payload", &v.payload}, {"toolcap.arg_url", &v.url},
		{"toolcap.arg_share", &v.share}, {"toolcap.arg_password", &v.password}, {"toolcap.arg_login", &v.login},
		{"toolcap.arg_force", &v.force}, {"toolcap.arg_selector", &v.selector}, {"toolcap.arg_path", &v.path},
	} {
		*l.dst = r.List(l.name)
		if len(*l.dst) == 0 {
			return nil, fmt.Errorf("%w: list %s is missing or empty", ErrVocabulary, l.name)
		}
	}
	// the table of which words give which labels (see nameRules in rules.go)
	v.nameRules = []verbRule{
		{Verbs: v.sink, Labels: []models.Label{models.LabelPublicSink}, Why: "delivers data to other people or the web"},
		{Verbs: v.grantVerbs, Objects: v.grantObjects, Labels: []models.Label{models.LabelPublicSink}, Why: "grants another party access"},
		{Verbs: v.shareVerbs, Objects: v.shareObjects, Labels: []models.Label{models.LabelPublicSink}, Why: "changes who can access a resource"},
		{Verbs: v.destroy, Labels: []models.Label{models.LabelDestructive}, Why: "removes data or commitments"},
		{Verbs: v.pay, Labels: []models.Label{models.LabelMoney, models.LabelDestructive, models.LabelPublicSink}, Why: "moves money to another party"},
		{Verbs: v.buy, Labels: []models.Label{models.LabelMoney, models.LabelDestructive}, Why: "commits the user's money"},
		{Verbs: v.moneyVerbs, Objects: v.moneyObjects, Labels: []models.Label{models.LabelMoney, models.LabelDestructive, models.LabelPublicSink}, Why: "moves money to another party"},
		{Verbs: v.credVerbs, Objects: v.credObjects, Labels: []models.Label{models.LabelDestructive}, Why: "takes over the account"},
		{Verbs: v.commit, Labels: []models.Label{models.LabelDestructive}, Why: "commits the user's money"},
		{Verbs: v.bookVerbs, Objects: v.bookObjects, Labels: []models.Label{models.LabelDestructive}, Why: "commits the user's money"},
		{Verbs: v.execDirect, Labels: []models.Label{models.LabelExecution, models.LabelDestructive}, Why: "runs code the agent supplies"},
		{Verbs: v.execRun, Objects: v.execObjects, Labels: []models.Label{models.LabelExecution, models.LabelDestructive}, Why: "runs code the agent supplies"},
		{Verbs: v.read, Objects: v.webObjects, Labels: []models.Label{models.LabelUntrustedContent}, Why: "public content anyone can write"},
		{Verbs: v.read, Objects: v.commsObjects, Labels: []models.Label{models.LabelUntrustedContent, models.LabelPrivateData}, Why: "private communication that outsiders write"},
	}
	v.allVerbs = slices.Concat(v.read, v.mutate, v.sink, v.destroy, v.pay, v.buy, v.commit, v.exec)
	return v, nil
}

// current is the vocabulary Infer and ArgRole use.
var current atomic.Pointer[Vocabulary]

func init() {
	v, err := NewVocabulary(nil)
	if err != nil {
		panic(err) // the embedded default ruleset is tested
	}
	current.Store(v)
}

// Use makes the toolcap.* lists of r the vocabulary of Infer and ArgRole
// (nil: the default ruleset), for a daemon that loads operator rule files.
// On error the current vocabulary is kept.
func Use(r *rules.Ruleset) error {
	v, err := NewVocabulary(r)
	if err != nil {
		return err
	}
	current.Store(v)
	return nil
}
