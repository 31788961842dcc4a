package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Load reads the configuration file at path, parses and validates it, resolves
// relative paths against the file's directory, reads the secret and CA files
// it names and checks that templates_dir is a directory. On any problem it
// returns Errors holding all of them.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, Errors{{File: path, Msg: "cannot read configuration: " + err.Error()}}
	}
	c, d := parse(path, data)
	if c != nil {
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			dir = filepath.Dir(path)
		}
		d.files(c, dir)
	}
	return d.result(c)
}

// Parse decodes and validates a configuration held in memory and applies the
// defaults. file names the source in error messages. Parse does not touch the
// filesystem: relative paths stay as written and Password fields stay empty;
// use Load for a configuration the daemon runs with. On any problem it returns
// Errors holding all of them.
func Parse(file string, data []byte) (*Config, error) {
	c, d := parse(file, data)
	return d.result(c)
}

// Mailbox returns the [[mailbox]] with the given name, or nil.
func (c *Config) Mailbox(name string) *Mailbox {
	for i := range c.Mailboxes {
		if c.Mailboxes[i].Name == name {
			return &c.Mailboxes[i]
		}
	}
	return nil
}

// Queue returns the [[queue]] with the given name, or nil.
func (c *Config) Queue(name string) *Queue {
	for i := range c.Queues {
		if c.Queues[i].Name == name {
			return &c.Queues[i]
		}
	}
	return nil
}

// Purpose returns the [[purpose]] with the given name, or nil.
func (c *Config) Purpose(name string) *Purpose {
	for i := range c.Purposes {
		if c.Purposes[i].Name == name {
			return &c.Purposes[i]
		}
	}
	return nil
}

// Error is one problem in a configuration file. Line and Col are 1-based (Col
// counts bytes); both are 0 when the problem has no position, such as a
// missing [[queue]].
type Error struct {
	File      string
	Line, Col int
	Msg       string
	// Warning marks a problem that does not make the configuration invalid
	// (Config.Warnings).
	Warning bool
}

// Error formats e as "FILE:LINE:COL: msg", or "FILE:LINE:COL: warning: msg"
// for a warning, leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line) + ":")
		if e.Col > 0 {
			b.WriteString(strconv.Itoa(e.Col) + ":")
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration file, sorted by position.
type Errors []*Error

// Error formats each problem on its own line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual problems, for errors.As.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// decoder carries the state of one Parse or Load: the position of every key
// and the problems found so far.
type decoder struct {
	file string
	pos  map[string]position // by key path, see locate
	bad  map[string]bool     // key paths whose value failed to decode
	errs Errors
	// warns are the warnings; with errors they are reported among them.
	warns Errors
}

// parse decodes, fills in defaults and validates. The returned Config is nil
// when the document is not valid TOML.
func parse(file string, data []byte) (*Config, *decoder) {
	d := &decoder{file: file, bad: map[string]bool{}}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		d.syntax(err)
		return nil, d
	}
	pos, err := locate(data)
	if err != nil {
		d.syntax(err)
		return nil, d
	}
	d.pos = pos
	c := &Config{File: file}
	d.table("", doc, reflect.ValueOf(c).Elem())
	d.defaults(c)
	d.validate(c)
	return c, d
}

// result returns c with its sorted warnings, or, if there are errors,
// the errors and warnings sorted by position.
func (d *decoder) result(c *Config) (*Config, error) {
	byPos := func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	}
	if len(d.errs) == 0 {
		c.Warnings = slices.SortedStableFunc(slices.Values(d.warns), byPos)
		return c, nil
	}
	errs := slices.SortedStableFunc(slices.Values(slices.Concat(d.errs, d.warns)), byPos)
	return nil, Errors(errs)
}

// syntax records an error from the TOML parser.
func (d *decoder) syntax(err error) {
	e := &Error{File: d.file, Msg: err.Error()}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		e.Line, e.Col = de.Position()
		e.Msg = "invalid TOML: " + strings.TrimPrefix(de.Error(), "toml: ")
	}
	d.errs = append(d.errs, e)
}

// has reports whether the key at path is written in the file.
func (d *decoder) has(path string) bool {
	_, ok := d.pos[path]
	return ok
}

// errorf records a problem at the position of path, or of its closest
// ancestor that has one (the table header for a missing key). Problems under
// a key whose value failed to decode are dropped: that key is already reported.
func (d *decoder) errorf(path, format string, args ...any) {
	e := &Error{File: d.file}
	for p := path; ; p = parent(p) {
		if d.bad[p] {
			return
		}
		if at, ok := d.pos[p]; ok && e.Line == 0 {
			e.Line, e.Col = at.line, at.col
		}
		if p == "" {
			break
		}
	}
	e.Msg = fmt.Sprintf(format, args...)
	d.errs = append(d.errs, e)
}

// warnf records a warning at the position of path, as errorf does.
func (d *decoder) warnf(path, format string, args ...any) {
	n := len(d.errs)
	d.errorf(path, format, args...)
	if len(d.errs) > n {
		w := d.errs[n]
		w.Warning = true
		d.errs, d.warns = d.errs[:n], append(d.warns, w)
	}
}

// keyErrorf records a problem with the value of the key at path, as
// "path: message".
func (d *decoder) keyErrorf(path, format string, args ...any) {
	d.errorf(path, "%s: %s", path, fmt.Sprintf(format, args...))
}

// fail records that the value at path could not be decoded.
func (d *decoder) fail(path, format string, args ...any) {
	d.keyErrorf(path, format, args...)
	d.bad[path] = true
}
