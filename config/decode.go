package config

import (
	"encoding"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// position is a 1-based line and byte column in the configuration file.
type position struct{ line, col int }

// Key paths name a key or table: "server.port", "mailbox[2].tls". Tables of
// an array and array elements are counted from 1. A key that is not a bare
// TOML key is quoted, so paths do not collide.

// join returns the path of key inside the table at path.
func join(path, key string) string {
	if key == "" || strings.ContainsFunc(key, func(r rune) bool {
		return !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index returns the path of the i-th (1-based) element of the array at path.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// parent returns the path of the table holding path; "" is the top level.
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		return path[:strings.LastIndexByte(path, '[')]
	}
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return ""
	}
	return path[:i]
}

// section names the table at path for messages: "[server]", "[[mailbox]] #2",
// and a table inside an array of tables by its path: "purpose[1].description".
func section(path string) string {
	i := strings.LastIndexByte(path, '[')
	switch {
	case i > 0 && strings.HasSuffix(path, "]"):
		return "[[" + path[:i] + "]] #" + path[i+1:len(path)-1]
	case i > 0:
		return path
	}
	return "[" + path + "]"
}

// in returns " in [table]" for a table path, or "" for the top level.
func in(path string) string {
	if path == "" {
		return ""
	}
	return " in " + section(path)
}

// locator records the position of every key of a document that go-toml has
// already accepted.
type locator struct {
	data   []byte
	lines  []int // offset at which each line starts
	pos    map[string]position
	arrays map[string]int // [[array]] headers seen so far, by array path
}

// locate returns the position of every key, table and array element in data,
// by path. A key gets the position of its name, a table that of its header.
func locate(data []byte) (map[string]position, error) {
	l := &locator{data: data, lines: []int{0}, pos: map[string]position{}, arrays: map[string]int{}}
	for i, b := range data {
		if b == '\n' {
			l.lines = append(l.lines, i+1)
		}
	}
	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = l.header(e)
		case unstable.KeyValue:
			l.keyValue(table, e)
		}
	}
	return l.pos, p.Error()
}

// at converts a byte offset into a position.
func (l *locator) at(offset uint32) position {
	line := sort.Search(len(l.lines), func(i int) bool { return l.lines[i] > int(offset) })
	return position{line: line, col: int(offset) - l.lines[line-1] + 1}
}

// mark records the position of path unless it already has one.
func (l *locator) mark(path string, offset uint32) {
	if _, ok := l.pos[path]; !ok {
		l.pos[path] = l.at(offset)
	}
}

// header handles a [table] or [[array]] header and returns the path of the
// table that the following keys belong to. A name that is an array of tables
// refers to its last element, as in TOML.
func (l *locator) header(e *unstable.Node) string {
	path := ""
	start := -1
	it := e.Key()
	for it.Next() {
		k := it.Node()
		if start < 0 {
			start = int(k.Raw.Offset)
		}
		path = join(path, string(k.Data))
		if it.IsLast() {
			break
		}
		if n := l.arrays[path]; n > 0 {
			path = index(path, n)
		}
		l.mark(path, k.Raw.Offset)
	}
	for start > 0 && strings.IndexByte("[ \t", l.data[start-1]) >= 0 {
		start--
	}
	if e.Kind == unstable.ArrayTable {
		l.mark(path, uint32(start))
		l.arrays[path]++
		path = index(path, l.arrays[path])
	}
	l.pos[path] = l.at(uint32(start))
	return path
}

// keyValue handles `key = value` inside the table at path, with a possibly
// dotted key.
func (l *locator) keyValue(path string, e *unstable.Node) {
	var offset uint32
	it := e.Key()
	for it.Next() {
		k := it.Node()
		path, offset = join(path, string(k.Data)), k.Raw.Offset
		l.mark(path, offset)
	}
	l.value(path, e.Value(), offset)
}

// value descends into inline tables and arrays, the value of the key at
// offset. Elements are located at their first byte; arrays, which carry no
// position of their own, where their key or enclosing element is.
func (l *locator) value(path string, v *unstable.Node, offset uint32) {
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				l.keyValue(path, n)
			}
		}
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			n := it.Node()
			i++
			at := offset
			if n.Raw.Length > 0 {
				at = n.Raw.Offset
			}
			l.mark(index(path, i), at)
			l.value(index(path, i), n, at)
		}
	}
}

var (
	durationType = reflect.TypeFor[Duration]()
	sizeType     = reflect.TypeFor[Size]()
	periodType   = reflect.TypeFor[Period]()
	textType     = reflect.TypeFor[Text]()
)

// table fills the struct dst from the TOML table m at path, by `toml` tag.
func (d *decoder) table(path string, m map[string]any, dst reflect.Value) {
	fields := tomlFields(dst.Type())
	for _, key := range slices.Sorted(maps.Keys(m)) {
		p := join(path, key)
		i, ok := fields[key]
		if !ok {
			d.errorf(p, "unknown key %q%s", key, in(path))
			continue
		}
		d.value(p, m[key], dst.Field(i))
	}
}

// tomlFields maps the `toml` tags of the struct type t to field indexes.
func tomlFields(t reflect.Type) map[string]int {
	fields := map[string]int{}
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			fields[tag] = i
		}
	}
	return fields
}

// value stores the decoded TOML value v, found at path, in dst.
func (d *decoder) value(path string, v any, dst reflect.Value) {
	if n, ok := v.(int64); ok && dst.Type() == sizeType {
		v = strconv.FormatInt(n, 10) // a plain number of bytes
	}
	if u, ok := dst.Addr().Interface().(encoding.TextUnmarshaler); ok {
		s, ok := v.(string)
		if !ok {
			d.mismatch(path, dst.Type(), v)
		} else if err := u.UnmarshalText([]byte(s)); err != nil {
			d.fail(path, "%v", err)
		}
		return
	}
	var ok bool
	switch dst.Kind() {
	case reflect.Pointer:
		ok = true
		e := reflect.New(dst.Type().Elem())
		d.value(path, v, e.Elem())
		if !d.bad[path] {
			dst.Set(e)
		}
	case reflect.Struct:
		var m map[string]any
		if m, ok = v.(map[string]any); ok {
			d.table(path, m, dst)
		}
	case reflect.Slice:
		var a []any
		if a, ok = v.([]any); ok {
			s := reflect.MakeSlice(dst.Type(), len(a), len(a))
			for i, e := range a {
				d.value(index(path, i+1), e, s.Index(i))
			}
			dst.Set(s)
		}
	case reflect.String:
		var s string
		if s, ok = v.(string); ok {
			dst.SetString(s)
		}
	case reflect.Int:
		var n int64
		if n, ok = v.(int64); ok {
			if dst.OverflowInt(n) {
				d.fail(path, "%d is out of range", n)
				return
			}
			dst.SetInt(n)
		}
	case reflect.Bool:
		var b bool
		if b, ok = v.(bool); ok {
			dst.SetBool(b)
		}
	default:
		panic(fmt.Sprintf("config: no decoder for %s fields", dst.Type()))
	}
	if !ok {
		d.mismatch(path, dst.Type(), v)
	}
}

// mismatch records a value of the wrong TOML type.
func (d *decoder) mismatch(path string, want reflect.Type, got any) {
	d.fail(path, "expected %s, got %s", describeType(path, want), describeValue(got))
}

// describeType names the TOML type a field of type t takes.
func describeType(path string, t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration such as "90s" or "2d"`
	case t == sizeType:
		return `a size such as "25MB" or "64MiB", or a number of bytes`
	case t == periodType:
		return `days or years such as "90d" or "2y"`
	case t == textType:
		return `a table of texts such as { de = "...", en = "..." }`
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(path, t.Elem())
	case reflect.Struct:
		return "a table"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "an array of tables ([[" + path + "]])"
		}
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "an integer"
	case reflect.Bool:
		return "a boolean"
	}
	return t.String()
}

// describeValue names the TOML type of a decoded value.
func describeValue(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}
