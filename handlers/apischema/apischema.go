// Package apischema describes Go types as JSON Schema (draft 2020-12, the
// dialect of OpenAPI 3.1 and of MCP tool inputs) by reflecting over the
// JSON tags encoding/json uses, so the API's machine-readable documents
// are made from the very types the doors decode and encode, never
// written by hand.
//
// Struct fields may carry, beside `json`:
//
//	doc:"..."        a description
//	enum:"a,b,c"     the values a string may take
//	api:"required"   an input field that must be given
//
// A type with a method `SchemaElem() reflect.Type` (core.Opt) is
// described as that element, which may also be null. Input objects
// refuse members they do not declare (additionalProperties: false), as
// the doors do.
package apischema

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// Schema is one JSON Schema.
type Schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Type                 any                `json:"type,omitempty"` // a name, or [name, "null"]
	Format               string             `json:"format,omitempty"`
	ContentEncoding      string             `json:"contentEncoding,omitempty"`
	Description          string             `json:"description,omitempty"`
	Enum                 []any              `json:"enum,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	AdditionalProperties any                `json:"additionalProperties,omitempty"`
	OneOf                []*Schema          `json:"oneOf,omitempty"`
}

// Mode says which way a type travels: inputs are strict about unknown
// members and list only fields marked required; outputs list every field
// encoding/json always writes as required.
type Mode int

const (
	Input Mode = iota
	Output
)

// OneOf is an answer that takes one of several shapes (a file's contents
// or a directory's listing); give zero values of each.
type OneOf []any

// Generator turns types into schemas. With refs, named struct types are
// put in Components once and referred to by $ref (the OpenAPI document);
// without, every schema is self-contained (MCP tool inputs).
type Generator struct {
	refs       bool
	Components map[string]*Schema
	names      map[key]string
}

type key struct {
	t    reflect.Type
	mode Mode
}

// New returns a generator; refs as above.
func New(refs bool) *Generator {
	return &Generator{refs: refs, Components: map[string]*Schema{}, names: map[key]string{}}
}

// ComponentPrefix is where $refs point.
const ComponentPrefix = "#/components/schemas/"

// Of describes the type of v (a zero value); OneOf describes its
// alternatives.
func (g *Generator) Of(v any, mode Mode) *Schema {
	if alts, ok := v.(OneOf); ok {
		s := &Schema{}
		for _, a := range alts {
			s.OneOf = append(s.OneOf, g.For(reflect.TypeOf(a), mode))
		}
		return s
	}
	return g.For(reflect.TypeOf(v), mode)
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawType        = reflect.TypeFor[json.RawMessage]()
	elemMethodName = "SchemaElem"
)

// For describes t.
func (g *Generator) For(t reflect.Type, mode Mode) *Schema {
	if t == nil {
		return &Schema{}
	}
	if m, ok := t.MethodByName(elemMethodName); ok && m.Type.NumIn() == 1 && m.Type.NumOut() == 1 {
		elem := m.Func.Call([]reflect.Value{reflect.Zero(t)})[0].Interface().(reflect.Type)
		return nullable(g.For(elem, mode))
	}
	switch t {
	case timeType:
		return &Schema{Type: "string", Format: "date-time"}
	case rawType:
		return &Schema{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.For(t.Elem(), mode))
	case reflect.String:
		return &Schema{Type: "string"}
	case reflect.Bool:
		return &Schema{Type: "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &Schema{Type: "integer"}
	case reflect.Float32, reflect.Float64:
		return &Schema{Type: "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return &Schema{Type: "string", ContentEncoding: "base64"}
		}
		return &Schema{Type: "array", Items: g.For(t.Elem(), mode)}
	case reflect.Map:
		return &Schema{Type: "object", AdditionalProperties: g.For(t.Elem(), mode)}
	case reflect.Interface:
		return &Schema{}
	case reflect.Struct:
		return g.structSchema(t, mode)
	}
	return &Schema{}
}

func nullable(s *Schema) *Schema {
	switch typ := s.Type.(type) {
	case string:
		out := *s
		out.Type = []string{typ, "null"}
		return &out
	case nil:
		if s.Ref != "" {
			return &Schema{OneOf: []*Schema{s, {Type: "null"}}}
		}
	}
	return s
}

func (g *Generator) structSchema(t reflect.Type, mode Mode) *Schema {
	named := t.Name() != "" && g.refs
	if named {
		k := key{t, mode}
		if name, ok := g.names[k]; ok {
			return &Schema{Ref: ComponentPrefix + name}
		}
		name := g.componentName(t, mode)
		g.names[k] = name
		g.Components[name] = &Schema{} // placeholder: recursion refers to it
		g.Components[name] = g.object(t, mode)
		return &Schema{Ref: ComponentPrefix + name}
	}
	return g.object(t, mode)
}

// componentName is the type's name, qualified by its package (then by
// its direction) when another type already took it.
func (g *Generator) componentName(t reflect.Type, mode Mode) string {
	base := strings.ToUpper(t.Name()[:1]) + t.Name()[1:]
	candidates := []string{base}
	if pkg := t.PkgPath(); pkg != "" {
		p := pkg[strings.LastIndex(pkg, "/")+1:]
		candidates = append(candidates, strings.ToUpper(p[:1])+p[1:]+base)
	}
	suffix := "Output"
	if mode == Input {
		suffix = "Input"
	}
	for _, c := range append(candidates, candidates[len(candidates)-1]+suffix) {
		if _, taken := g.Components[c]; !taken {
			return c
		}
	}
	for i := 2; ; i++ {
		c := base + suffix + itoa(i)
		if _, taken := g.Components[c]; !taken {
			return c
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func (g *Generator) object(t reflect.Type, mode Mode) *Schema {
	s := &Schema{Type: "object", Properties: map[string]*Schema{}}
	if mode == Input {
		s.AdditionalProperties = false
	}
	for _, f := range StructFields(t) {
		fs := g.For(f.Type, mode)
		if doc := f.Tag.Get("doc"); doc != "" || f.Tag.Get("enum") != "" {
			cp := *fs
			fs = &cp
			// A $ref may have siblings in 2020-12: the description
			// says what this use of the type means.
			fs.Description = doc
			if e := f.Tag.Get("enum"); e != "" {
				for _, v := range strings.Split(e, ",") {
					fs.Enum = append(fs.Enum, v)
				}
			}
		}
		s.Properties[f.Name] = fs
		switch {
		case mode == Input && strings.Contains(f.Tag.Get("api"), "required"):
			s.Required = append(s.Required, f.Name)
		case mode == Output && !f.OmitEmpty:
			s.Required = append(s.Required, f.Name)
		}
	}
	return s
}

// Field is one JSON member of a struct type.
type Field struct {
	Name      string
	Type      reflect.Type
	OmitEmpty bool
	Tag       reflect.StructTag
}

// StructFields lists the JSON members of struct type t in declaration
// order, with embedded structs' members flattened in place, as
// encoding/json sees them (shadowing by depth is not reproduced: the
// API's types do not rely on it). The schemas and the strict decoding
// of requests both read types through it.
func StructFields(t reflect.Type) []Field {
	var out []Field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if sf.Anonymous && !hasTag {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, StructFields(et)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, Field{Name: name, Type: sf.Type, OmitEmpty: strings.Contains(","+opts+",", ",omitempty,"), Tag: sf.Tag})
	}
	return out
}
