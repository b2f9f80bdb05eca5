package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tetherhq/tether/ingest"
)

var updateConfigRef = flag.Bool("update-config-reference", false, "rewrite deploy/CONFIG.md")

const configRefPath = "../../deploy/CONFIG.md"

// TestConfigReference generates the configuration reference from the Config
// struct (keys and types by reflection, defaults from defaultConfig, doc
// comments from config.go, environment variables from applyEnv) and checks
// that deploy/CONFIG.md is up to date.
func TestConfigReference(t *testing.T) {
	got, err := configReference("config.go")
	if err != nil {
		t.Fatal(err)
	}
	if *updateConfigRef {
		if err := os.WriteFile(configRefPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(configRefPath)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("deploy/CONFIG.md is out of date (%v): run go test ./cmd/tether -run TestConfigReference -update-config-reference", err)
	}
}

type configKey struct {
	key, typ, def, env, doc string
}

func configReference(src string) ([]byte, error) {
	docs, err := fieldDocs(src)
	if err != nil {
		return nil, err
	}
	envs, err := envNames(src)
	if err != nil {
		return nil, err
	}
	examples, err := exampleComments("../../deploy/tether.example.yaml")
	if err != nil {
		return nil, err
	}
	var keys []configKey
	walkConfig(reflect.ValueOf(defaultConfig()), "", "", docs, envs, &keys)
	for i := range keys {
		if keys[i].doc == "" {
			keys[i].doc = examples[keys[i].key]
		}
	}
	var b bytes.Buffer
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from the `Config` struct in `cmd/tether/config.go` (field doc\n")
	b.WriteString("comments; else the key's comment in `deploy/tether.example.yaml`) by\n")
	b.WriteString("`go test ./cmd/tether -run TestConfigReference -update-config-reference`;\n")
	b.WriteString("the test fails when this file is out of date. `tether run --config FILE`\n")
	b.WriteString("reads YAML; every key is optional (the default applies), unknown keys are\n")
	b.WriteString("rejected, and the environment variables override the file.\n")
	b.WriteString("`deploy/tether.example.yaml` lists every key with its default.\n\n")
	b.WriteString("| key | type | default | environment | description |\n|---|---|---|---|---|\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", k.key, k.typ, k.def, k.env, k.doc)
	}
	return b.Bytes(), nil
}

var durationType = reflect.TypeOf(time.Duration(0))
var secretType = reflect.TypeOf(ingest.Secret(""))

func walkConfig(v reflect.Value, prefix, goPath string, docs, envs map[string]string, out *[]configKey) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		key, gp := name, f.Name
		if prefix != "" {
			key, gp = prefix+"."+name, goPath+"."+f.Name
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			walkConfig(fv, key, gp, docs, envs, out)
			continue
		}
		doc := docs[t.Name()+"."+f.Name]
		if t.Name() == "" { // anonymous section struct of Config
			doc = docs[gp]
		}
		env := envs[gp]
		if env != "" {
			env = "`" + env + "`"
		}
		*out = append(*out, configKey{key: key, typ: typeName(f.Type), def: defaultOf(fv), env: env, doc: doc})
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == secretType:
		return "secret string"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	}
	return t.Kind().String()
}

func defaultOf(v reflect.Value) string {
	switch {
	case v.Type() == secretType:
		if v.String() == "" {
			return `""`
		}
		return "[REDACTED]"
	case v.Type() == durationType:
		return "`" + time.Duration(v.Int()).String() + "`"
	case v.Kind() == reflect.String:
		if v.String() == "" {
			return `""`
		}
		return "`" + v.String() + "`"
	case v.Kind() == reflect.Slice:
		var s []string
		for i := range v.Len() {
			s = append(s, v.Index(i).String())
		}
		return "`[" + strings.Join(s, ", ") + "]`"
	}
	return fmt.Sprintf("`%v`", v.Interface())
}

// fieldDocs returns the doc comment of every struct field in src, keyed by
// the Go path from Config ("Kafka.FindingsTopic") for Config's nested
// sections and by "type.Field" for named types ("tlsConfig.CAFile"). A
// comment shared by a group of fields ("CertFile and KeyFile: …") applies
// to each field of the group.
func fieldDocs(src string) (map[string]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, src, nil, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	var walk func(st *ast.StructType, prefix string)
	walk = func(st *ast.StructType, prefix string) {
		var last string
		for _, fld := range st.Fields.List {
			doc := ""
			if fld.Doc != nil {
				doc = strings.Join(strings.Fields(fld.Doc.Text()), " ")
				last = doc
			} else if last != "" && mentions(last, fld) {
				doc = last
			} else {
				last = ""
			}
			for _, n := range fld.Names {
				if inner, ok := fld.Type.(*ast.StructType); ok {
					walk(inner, join(prefix, n.Name))
					continue
				}
				docs[join(prefix, n.Name)] = strings.ReplaceAll(doc, "|", `\|`)
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		if st, ok := ts.Type.(*ast.StructType); ok {
			prefix := ts.Name.Name
			if prefix == "Config" {
				prefix = ""
			}
			walk(st, prefix)
		}
		return false
	})
	return docs, nil
}

func mentions(doc string, fld *ast.Field) bool {
	for _, n := range fld.Names {
		if strings.Contains(doc, n.Name) {
			return true
		}
	}
	return false
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// exampleComments returns the line comment of every key in the example
// configuration, keyed by its dotted path.
func exampleComments(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				walk(c, prefix)
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := join(prefix, k.Value)
			if c := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v.LineComment+k.LineComment), "#")); c != "" {
				out[key] = strings.ReplaceAll(c, "|", `\|`)
			}
			walk(v, key)
		}
	}
	walk(&root, "")
	return out, nil
}

// envNames maps Go paths ("Kafka.Brokers") to the environment variable
// applyEnv reads for them: the first c.<path> after each "TETHER_…" literal.
func envNames(src string) (map[string]string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	i := bytes.Index(b, []byte("func (c *Config) applyEnv"))
	if i < 0 {
		return nil, fmt.Errorf("applyEnv not found in %s", src)
	}
	body := b[i:]
	if j := bytes.Index(body[1:], []byte("\nfunc ")); j >= 0 {
		body = body[:j+1]
	}
	re := regexp.MustCompile(`"(TETHER_[A-Z_]+)"[^&]*?&?c\.([A-Za-z.]+)`)
	out := map[string]string{}
	for _, m := range re.FindAllSubmatch(body, -1) {
		path := strings.TrimSuffix(string(m[2]), ".")
		if _, dup := out[path]; !dup {
			out[path] = string(m[1])
		}
	}
	return out, nil
}
