// Package columns declares Tether's stored records column by column: one
// Table per record type (events, findings, containment commands, command
// acknowledgements, triage decisions). A Column has a name, a logical Kind
// and a getter. The ClickHouse sink renders its CREATE TABLE statements,
// INSERT column lists and row values from these tables, and the Parquet
// sink its Arrow schemas, row filling and reading, so a column is declared
// once and every store follows.
//
// What stays with each sink is what only it has: ClickHouse's engine,
// partitioning, sorting key and retention (sink/clickhouse), and the
// Parquet series' file layout (sink/parquet).
package columns

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tetherhq/tether/models"
)

// Kind is a column's logical type. Each sink maps it to its own type; the
// Go type of the getter's value is fixed per Kind (see GoType).
type Kind uint8

// Column kinds. Rendered types are ClickHouse (modern dialect; the legacy
// dialect drops LowCardinality and stores DateTime64 as DateTime) and
// Arrow/Parquet.
const (
	// String is a string: String; utf8.
	String Kind = iota + 1
	// LowCard is a string with few distinct values: LowCardinality(String); utf8.
	LowCard
	// Time is a time.Time: DateTime64(3, 'UTC'); timestamp[ms, UTC].
	Time
	// NullTime is a *time.Time: Nullable(DateTime64(3, 'UTC')); nullable timestamp[ms, UTC].
	NullTime
	// Strings is a []string: Array(String); list<utf8>.
	Strings
	// LowCards is a []string of few distinct values: Array(LowCardinality(String)); list<utf8>.
	LowCards
	// Floats is a []float64: Array(Float64); list<float64>.
	Floats
	// UInt8 is a uint8.
	UInt8
	// UInt16 is a uint16.
	UInt16
	// UInt64 is a uint64.
	UInt64
	// Int32 is an int32.
	Int32
	// Int64 is an int64.
	Int64
	// Float64 is a float64.
	Float64
	// Seconds is a time.Time to the second: DateTime('UTC') in every
	// dialect (ClickHouse's insertion time).
	Seconds
	// Features is a []models.Feature: list<struct<name, observed,
	// baseline, spread>> in Parquet; ClickHouse stores features as four
	// parallel arrays instead (feature_name, …).
	Features
)

var kindNames = [...]string{"", "String", "LowCard", "Time", "NullTime", "Strings", "LowCards", "Floats",
	"UInt8", "UInt16", "UInt64", "Int32", "Int64", "Float64", "Seconds", "Features"}

// String returns the kind's name.
func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// GoType returns an example value of the Go type a getter of kind k
// returns (for checks).
func (k Kind) GoType() any {
	switch k {
	case String, LowCard:
		return ""
	case Time, Seconds:
		return time.Time{}
	case NullTime:
		return (*time.Time)(nil)
	case Strings, LowCards:
		return []string(nil)
	case Floats:
		return []float64(nil)
	case UInt8:
		return uint8(0)
	case UInt16:
		return uint16(0)
	case UInt64:
		return uint64(0)
	case Int32:
		return int32(0)
	case Int64:
		return int64(0)
	case Float64:
		return float64(0)
	case Features:
		return []models.Feature(nil)
	}
	return nil
}

// Column is one column of a record type T.
type Column[T any] struct {
	// Name is the column name in every store.
	Name string
	// Kind is the column's type.
	Kind Kind
	// Value returns the column's value in r, of Kind's Go type. It is nil
	// for a column with a Default.
	Value func(r *T) any
	// get is the typed getter behind Value (func(*T) string, …), for sinks
	// that fill a column without boxing each value (Getter).
	get any
	// Default, when set, is a ClickHouse DEFAULT expression: the server
	// fills the column, which is never inserted and not in Parquet.
	Default string
	// ParquetKind, when set, is the column's type in Parquet files where it
	// differs from Kind (kept from files written before this table); the
	// Parquet sink converts the value.
	ParquetKind Kind
	// ParquetOnly marks a column that ClickHouse does not have.
	ParquetOnly bool
}

// Getter returns the column's typed getter, a func(*T) V where V is Kind's
// Go type (see GoType), or nil for a column with a Default. A sink that
// switches on it once per column reads every row's value without boxing.
func (c *Column[T]) Getter() any { return c.get }

// InClickHouse reports whether ClickHouse has the column.
func (c *Column[T]) InClickHouse() bool { return !c.ParquetOnly }

// Inserted reports whether a ClickHouse INSERT names the column (it is in
// ClickHouse and not filled by a DEFAULT).
func (c *Column[T]) Inserted() bool { return !c.ParquetOnly && c.Default == "" }

// ParquetType returns the column's kind in Parquet files.
func (c *Column[T]) ParquetType() Kind {
	if c.ParquetKind != 0 {
		return c.ParquetKind
	}
	return c.Kind
}

// Table is the column table of one record type T.
type Table[T any] struct {
	// Name is the ClickHouse table name.
	Name string
	// Columns in ClickHouse storage order. New columns go last (before
	// the DEFAULT ones), so the DDL of a fresh table lists them where a
	// migration (ALTER TABLE … ADD COLUMN) of an older one appends them.
	Columns []Column[T]
	// Parquet names the columns of the Parquet series of T, in file order,
	// or nil when T has no Parquet series. Files are matched by position by
	// some query engines (DuckDB over a glob), so the order is frozen: new
	// columns go last.
	Parquet []string
}

// Column returns the column named name and whether it exists.
func (t Table[T]) Column(name string) (Column[T], bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column[T]{}, false
}

// Inserted returns the columns a ClickHouse INSERT names, in order.
func (t Table[T]) Inserted() []Column[T] {
	var out []Column[T]
	for _, c := range t.Columns {
		if c.Inserted() {
			out = append(out, c)
		}
	}
	return out
}

// ParquetColumns returns the Parquet series' columns in file order.
func (t Table[T]) ParquetColumns() []Column[T] {
	out := make([]Column[T], 0, len(t.Parquet))
	for _, name := range t.Parquet {
		c, _ := t.Column(name)
		out = append(out, c)
	}
	return out
}

// Check reports the first inconsistency of t: a duplicate or empty name, a
// column without a getter or with a getter of the wrong type (tried on r),
// a Parquet name that is not a column or is ClickHouse's DEFAULT
// column, a ParquetOnly column missing from the Parquet series.
func (t Table[T]) Check(r *T) error {
	seen := map[string]bool{}
	for _, c := range t.Columns {
		switch {
		case c.Name == "":
			return fmt.Errorf("%s: column without a name", t.Name)
		case seen[c.Name]:
			return fmt.Errorf("%s: duplicate column %s", t.Name, c.Name)
		case c.Kind == 0 || c.Kind.GoType() == nil:
			return fmt.Errorf("%s.%s: no kind", t.Name, c.Name)
		case c.Default != "" && (c.Value != nil || c.ParquetOnly):
			return fmt.Errorf("%s.%s: a DEFAULT column has no getter and is in ClickHouse", t.Name, c.Name)
		case c.Default == "" && (c.Value == nil || c.get == nil):
			return fmt.Errorf("%s.%s: no getter", t.Name, c.Name)
		}
		seen[c.Name] = true
		if c.Value != nil {
			if got, want := fmt.Sprintf("%T", c.Value(r)), fmt.Sprintf("%T", c.Kind.GoType()); got != want {
				return fmt.Errorf("%s.%s: getter returns %s, kind %s wants %s", t.Name, c.Name, got, c.Kind, want)
			}
		}
	}
	inParquet := map[string]bool{}
	for _, name := range t.Parquet {
		c, ok := t.Column(name)
		switch {
		case !ok:
			return fmt.Errorf("%s: Parquet column %s is not a column", t.Name, name)
		case c.Default != "":
			return fmt.Errorf("%s: Parquet column %s is filled by ClickHouse", t.Name, name)
		case inParquet[name]:
			return fmt.Errorf("%s: Parquet column %s listed twice", t.Name, name)
		}
		inParquet[name] = true
	}
	for _, c := range t.Columns {
		if c.ParquetOnly && !inParquet[c.Name] {
			return fmt.Errorf("%s.%s: ParquetOnly but not in the Parquet series", t.Name, c.Name)
		}
	}
	return nil
}

// epoch is the earliest storable time: ClickHouse's DateTime cannot hold
// Go's zero time.
var epoch = time.Unix(0, 0).UTC()

// Millis is the millisecond within the second of t as stored (0 for a time
// before the epoch, which is stored as the epoch). The *_ms columns carry
// it next to a time column, so that toUInt32(time) * 1000 + time_ms is the
// exact Unix time in milliseconds even on servers without DateTime64.
func Millis(t time.Time) uint16 {
	if t.Before(epoch) {
		return 0
	}
	return uint16(t.Nanosecond() / int(time.Millisecond))
}

// Cut cuts s to at most limit bytes at a UTF-8 boundary; limit 0 means no
// limit. It reports whether s was cut.
func Cut(s string, limit int) (string, bool) {
	if limit <= 0 || len(s) <= limit {
		return s, false
	}
	n := limit
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}

func nonNil[E any](s []E) []E {
	if s == nil {
		return []E{}
	}
	return s
}
