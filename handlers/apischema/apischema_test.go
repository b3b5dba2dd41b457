package apischema

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"tapioca/handlers/core"
)

type inner struct {
	N int `json:"n"`
}

type sample struct {
	Name    string           `json:"name" api:"required" doc:"The name"`
	State   string           `json:"state" enum:"open,closed"`
	Body    core.Opt[string] `json:"body"`
	Tags    []string         `json:"tags,omitempty"`
	When    time.Time        `json:"when"`
	Ptr     *inner           `json:"ptr"`
	Raw     []byte           `json:"raw"`
	Skipped string           `json:"-"`
	inner
}

func TestSchemas(t *testing.T) {
	tests := []struct {
		name string
		mode Mode
		want string
	}{
		{"input", Input, `{"type":"object","properties":{"body":{"type":["string","null"]},"n":{"type":"integer"},` +
			`"name":{"type":"string","description":"The name"},"ptr":{"type":["object","null"],"properties":{"n":{"type":"integer"}},"additionalProperties":false},` +
			`"raw":{"type":"string","contentEncoding":"base64"},"state":{"type":"string","enum":["open","closed"]},` +
			`"tags":{"type":"array","items":{"type":"string"}},"when":{"type":"string","format":"date-time"}},"required":["name"],"additionalProperties":false}`},
		{"output", Output, `{"type":"object","properties":{"body":{"type":["string","null"]},"n":{"type":"integer"},` +
			`"name":{"type":"string","description":"The name"},"ptr":{"type":["object","null"],"properties":{"n":{"type":"integer"}},"required":["n"]},` +
			`"raw":{"type":"string","contentEncoding":"base64"},"state":{"type":"string","enum":["open","closed"]},` +
			`"tags":{"type":"array","items":{"type":"string"}},"when":{"type":"string","format":"date-time"}},"required":["name","state","body","when","ptr","raw","n"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(New(false).For(reflect.TypeFor[sample](), tt.mode))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("schema\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

type node struct {
	Kids []node `json:"kids"`
}

func TestComponentsAndRecursion(t *testing.T) {
	g := New(true)
	s := g.Of(OneOf{sample{}, []node{}}, Output)
	if len(s.OneOf) != 2 || s.OneOf[0].Ref != ComponentPrefix+"Sample" || s.OneOf[1].Items.Ref != ComponentPrefix+"Node" {
		t.Fatalf("oneOf = %+v", s)
	}
	kids := g.Components["Node"].Properties["kids"]
	if kids.Items.Ref != ComponentPrefix+"Node" {
		t.Fatalf("recursive member = %+v", kids)
	}
	// The same type as an input is another component: it is strict.
	in := g.Of(sample{}, Input)
	if in.Ref == ComponentPrefix+"Sample" || g.Components[in.Ref[len(ComponentPrefix):]].AdditionalProperties != false {
		t.Fatalf("input component = %+v", in)
	}
}
