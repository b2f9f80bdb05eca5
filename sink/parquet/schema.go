package parquet

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/columns"
)

var (
	str = arrow.BinaryTypes.String
	ts  = arrow.FixedWidthTypes.Timestamp_ms // timestamp[ms, tz=UTC]
	f64 = arrow.PrimitiveTypes.Float64

	featureType = arrow.StructOf(
		arrow.Field{Name: "name", Type: str},
		arrow.Field{Name: "observed", Type: f64},
		arrow.Field{Name: "baseline", Type: f64},
		arrow.Field{Name: "spread", Type: f64},
	)

	// arrowTypes are the Arrow types of the column kinds.
	arrowTypes = map[columns.Kind]arrow.DataType{
		columns.String:   str,
		columns.LowCard:  str,
		columns.Time:     ts,
		columns.NullTime: ts,
		columns.Strings:  arrow.ListOfNonNullable(str),
		columns.LowCards: arrow.ListOfNonNullable(str),
		columns.Floats:   arrow.ListOfNonNullable(f64),
		columns.UInt8:    arrow.PrimitiveTypes.Uint8,
		columns.UInt16:   arrow.PrimitiveTypes.Uint16,
		columns.UInt64:   arrow.PrimitiveTypes.Uint64,
		columns.Int32:    arrow.PrimitiveTypes.Int32,
		columns.Int64:    arrow.PrimitiveTypes.Int64,
		columns.Float64:  f64,
		columns.Features: arrow.ListOfNonNullable(featureType),
	}

	findingsSchema = schemaOf(columns.Findings)
	commandsSchema = schemaOf(columns.Commands)
	eventsSchema   = schemaOf(columns.Events)
)

// schemaOf is the Arrow schema of ct's Parquet series. Every column, list
// element and struct field is required (non-nullable) except NullTime
// columns: absent optional values are empty strings, so readers expose
// plain types (ClickHouse String, not Nullable(String)).
func schemaOf[T any](ct columns.Table[T]) *arrow.Schema {
	var fields []arrow.Field
	for _, c := range ct.ParquetColumns() {
		k := c.ParquetType()
		fields = append(fields, arrow.Field{Name: c.Name, Type: arrowTypes[k], Nullable: k == columns.NullTime})
	}
	return arrow.NewSchema(fields, nil)
}

// FindingsSchema is the Arrow schema of the findings files: the Parquet
// columns of columns.Findings, named as in the ClickHouse findings table
// except features, one list<struct<name, observed, baseline, spread>>.
func FindingsSchema() *arrow.Schema { return findingsSchema }

// CommandsSchema is the Arrow schema of the commands files: the Parquet
// columns of columns.Commands, with the signed envelope.
func CommandsSchema() *arrow.Schema { return commandsSchema }

// EventsSchema is the Arrow schema of the events files: the Parquet columns
// of columns.Events, the audit trail's columns an analyst's questions need
// (free text cut to 4096 bytes per field).
func EventsSchema() *arrow.Schema { return eventsSchema }

// appendRows appends rows to rb, whose schema is schemaOf(ct), column by
// column.
func appendRows[T any](rb *array.RecordBuilder, ct columns.Table[T], rows []T) {
	for i, c := range ct.ParquetColumns() {
		appendColumn(rb.Field(i), c, rows)
	}
}

// appendColumn appends column c of rows to b, switching on the column's
// typed getter once, so that no value is boxed.
func appendColumn[T any](b array.Builder, c columns.Column[T], rows []T) {
	switch get := c.Getter().(type) {
	case func(*T) string:
		sb := b.(*array.StringBuilder)
		for i := range rows {
			sb.Append(get(&rows[i]))
		}
	case func(*T) time.Time:
		tb := b.(*array.TimestampBuilder)
		for i := range rows {
			tb.Append(arrow.Timestamp(get(&rows[i]).UnixMilli()))
		}
	case func(*T) *time.Time:
		tb := b.(*array.TimestampBuilder)
		for i := range rows {
			if t := get(&rows[i]); t != nil {
				tb.Append(arrow.Timestamp(t.UnixMilli()))
			} else {
				tb.AppendNull()
			}
		}
	case func(*T) []string:
		lb := b.(*array.ListBuilder)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		for i := range rows {
			lb.Append(true)
			for _, s := range get(&rows[i]) {
				vb.Append(s)
			}
		}
	case func(*T) []float64:
		lb := b.(*array.ListBuilder)
		vb := lb.ValueBuilder().(*array.Float64Builder)
		for i := range rows {
			lb.Append(true)
			vb.AppendValues(get(&rows[i]), nil)
		}
	case func(*T) uint8:
		ub := b.(*array.Uint8Builder)
		for i := range rows {
			ub.Append(get(&rows[i]))
		}
	case func(*T) uint16:
		ub := b.(*array.Uint16Builder)
		for i := range rows {
			ub.Append(get(&rows[i]))
		}
	case func(*T) uint64:
		ub := b.(*array.Uint64Builder)
		for i := range rows {
			ub.Append(get(&rows[i]))
		}
	case func(*T) int32:
		ib := b.(*array.Int32Builder)
		for i := range rows {
			ib.Append(get(&rows[i]))
		}
	case func(*T) int64:
		if c.ParquetType() == columns.Int32 { // kept int32 in files of earlier builds
			ib := b.(*array.Int32Builder)
			for i := range rows {
				ib.Append(int32(get(&rows[i])))
			}
			return
		}
		ib := b.(*array.Int64Builder)
		for i := range rows {
			ib.Append(get(&rows[i]))
		}
	case func(*T) float64:
		fb := b.(*array.Float64Builder)
		for i := range rows {
			fb.Append(get(&rows[i]))
		}
	case func(*T) []models.Feature:
		lb := b.(*array.ListBuilder)
		sb := lb.ValueBuilder().(*array.StructBuilder)
		name := sb.FieldBuilder(0).(*array.StringBuilder)
		obs, base, spread := sb.FieldBuilder(1).(*array.Float64Builder), sb.FieldBuilder(2).(*array.Float64Builder), sb.FieldBuilder(3).(*array.Float64Builder)
		for i := range rows {
			lb.Append(true)
			for _, x := range get(&rows[i]) {
				sb.Append(true)
				name.Append(x.Name)
				obs.Append(x.Observed)
				base.Append(x.Baseline)
				spread.Append(x.Spread)
			}
		}
	default:
		panic(fmt.Sprintf("parquet: column %s: getter %T has no Arrow mapping", c.Name, get))
	}
}

// row reads a record batch's columns by name. A column the file does not
// have (written by an earlier build, before the column was added) reads as
// the zero value.
type row struct {
	rec arrow.RecordBatch
	idx map[string]int
}

func newRow(rec arrow.RecordBatch) row {
	idx := make(map[string]int, rec.NumCols())
	for i, f := range rec.Schema().Fields() {
		idx[f.Name] = i
	}
	return row{rec: rec, idx: idx}
}

func (r row) col(name string) arrow.Array {
	if i, ok := r.idx[name]; ok {
		return r.rec.Column(i)
	}
	return nil
}

func (r row) str(name string, i int) string {
	if a, ok := r.col(name).(*array.String); ok {
		return a.Value(i)
	}
	return ""
}

func (r row) time(name string, i int) time.Time {
	if a, ok := r.col(name).(*array.Timestamp); ok {
		return time.UnixMilli(int64(a.Value(i))).UTC()
	}
	return time.Time{}
}

func (r row) int(name string, i int) int64 {
	switch a := r.col(name).(type) {
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	}
	return 0
}

func (r row) uint8(name string, i int) uint8 {
	if a, ok := r.col(name).(*array.Uint8); ok {
		return a.Value(i)
	}
	return 0
}

func (r row) float(name string, i int) float64 {
	if a, ok := r.col(name).(*array.Float64); ok {
		return a.Value(i)
	}
	return 0
}

// strs returns a list<string> value, nil when empty.
func (r row) strs(name string, i int) []string {
	a, ok := r.col(name).(*array.List)
	if !ok {
		return nil
	}
	vals := a.ListValues().(*array.String)
	var out []string
	s, e := a.ValueOffsets(i)
	for j := s; j < e; j++ {
		out = append(out, vals.Value(int(j)))
	}
	return out
}

// features returns a list<struct<name, observed, baseline, spread>> value,
// nil when empty.
func (r row) features(name string, i int) []models.Feature {
	a, ok := r.col(name).(*array.List)
	if !ok {
		return nil
	}
	st := a.ListValues().(*array.Struct)
	var (
		n               = st.Field(0).(*array.String)
		obs, base, sprd = st.Field(1).(*array.Float64), st.Field(2).(*array.Float64), st.Field(3).(*array.Float64)
		out             []models.Feature
	)
	s, e := a.ValueOffsets(i)
	for j := int(s); j < int(e); j++ {
		out = append(out, models.Feature{Name: n.Value(j), Observed: obs.Value(j), Baseline: base.Value(j), Spread: sprd.Value(j)})
	}
	return out
}
