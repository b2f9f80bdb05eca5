// Package cookbook is the analysts' ClickHouse query cookbook: the SQL
// files in queries/ (plain SQL for clickhouse-client, written for servers
// from 18.16 on), embedded so that tests run every one of them against the
// real server.
//
// Each file starts with a `-- ` line saying what it answers. Parameters are
// written {name} (session_id, finding_id, root_agent_id); Render replaces
// them with quoted string literals, and the database name `tether.` with
// the one given.
package cookbook

import (
	"embed"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

//go:embed queries/*.sql
var files embed.FS

// Query is one cookbook entry.
type Query struct {
	// Name is the file name without .sql.
	Name string
	// Question is the file's first comment line.
	Question string
	// Params are the {name} parameters the query needs, sorted.
	Params []string
	// SQL is the file's text.
	SQL string
}

var paramRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// Queries returns every cookbook query, in file-name order.
func Queries() []Query {
	entries, _ := files.ReadDir("queries")
	var qs []Query
	for _, e := range entries {
		b, _ := files.ReadFile(path.Join("queries", e.Name()))
		q := Query{Name: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b)}
		first, _, _ := strings.Cut(q.SQL, "\n")
		q.Question = strings.TrimSpace(strings.TrimPrefix(first, "--"))
		for _, m := range paramRE.FindAllStringSubmatch(q.SQL, -1) {
			if !slices.Contains(q.Params, m[1]) {
				q.Params = append(q.Params, m[1])
			}
		}
		slices.Sort(q.Params)
		qs = append(qs, q)
	}
	return qs
}

// Render returns q's SQL for database db with params substituted as
// quoted literals; every parameter must be given.
func (q Query) Render(db string, params map[string]string) (string, error) {
	sql := q.SQL
	if db != "" && db != "tether" {
		sql = strings.ReplaceAll(sql, "tether.", db+".")
	}
	var missing []string
	sql = paramRE.ReplaceAllStringFunc(sql, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := params[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return quote(v)
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("cookbook %s: missing parameters %s", q.Name, strings.Join(missing, ", "))
	}
	return sql, nil
}

// quote renders s as a ClickHouse string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
